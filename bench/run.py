"""The benchmark of docs/benchmarks.md: dumpdomain/loaddomain against Django's
dumpdata/loaddata and PostgreSQL's pg_dump/pg_restore, on the local PostgreSQL.

    python bench/run.py --scales 100 400      # what `make bench SCALE="100 400"` runs
    python bench/run.py --million             # the 1,000,000-row check (seeddemo --scale 800)
    python bench/run.py --skip-slow           # without loaddata (minutes)
    python bench/run.py --profile             # py-spy of loaddomain and dumpdomain, first scale
    python bench/run.py --floors-only         # loaddomain against the floors only (issue 25)

The cases: export (dumpdomain, dumpdata, pg_dump), import into an empty database
(loaddomain, loaddata, pg_restore), re-import of the same file (every row
unchanged: no row version may be written), import of a file in which every 10th row of each
table an import may update was changed (exactly those rows updated, one row version each),
and loaddomain's dry run (into an empty database, and of the unchanged file).

The floors (issue 25, bench/floors.py), from the same export file in the same run: a checked
bulk insert (COPY into staging tables, INSERT ... SELECT in dependency order, every foreign
key checked), the server's comparison of the unchanged file (the same staging, one LEFT
JOIN per table), the parse of the file (orjson, whole) and its SHA-256, and a command's
start-up (`loaddomain --help`, `check`). Each loaddomain run's phases (its --report's
phaseSeconds) are kept with its figures.

The databases are the platform's own layout: the template every scratch database is copied
from is made by loading Prisma's DDL (core/prisma/prisma-schema.sql) into an empty database,
as the platform does (no Django migrate there, no django_migrations table). The domain's
table names ("Organization", "User", ..., "_PermissionToUser") come from the models
(datatransfer.registry), checked against the tables that DDL made.

Every measured command runs as a child process (`manage.py ...` with DATABASE_URL, the
platform alias, ENV_FILE=/dev/null and PROJECT_DATABASE_URL on a SQLite file of the work
directory, or pg_dump/pg_restore); its wall time is taken around the child and its peak RSS is the
child's own `ru_maxrss` from `os.wait4` (KB on Linux). The PostgreSQL server's memory is
nobody's figure here: only the client's.

Scratch databases are named `bench_mk_*` (BENCH_DB_PREFIX to change it); the script creates
and drops them and never touches any other database. Raw results go to bench/results.json;
docs/benchmarks.md and docs/benchmarks.png are rendered from it (each kind of run keeps the
other's results).
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import floors  # bench/floors.py, next to this file
import psycopg
from cases import CHANGE_EVERY  # bench/cases.py, next to this file

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
PRISMA_DDL = ROOT / "core" / "prisma" / "prisma-schema.sql"
# The scratch databases' names (BENCH_DB_PREFIX to run beside another run of the benchmark).
PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench_mk_")
TEMPLATE, SOURCE, TARGET = PREFIX + "template", PREFIX + "source", PREFIX + "target"
# A copy of the template whose foreign keys are DEFERRABLE INITIALLY DEFERRED, as Django's
# own migrations make them: only for `loaddata` into an empty database, which cannot load
# the Organization <-> User cycle through Prisma's non-deferrable foreign keys.
TEMPLATE_DEFERRABLE = PREFIX + "template_deferrable"
# The domain's tables, as the models name them: every table of the file in dependency
# order, each followed by the link tables that travel inside its rows.
TABLES_SCRIPT = """
import json
import django
django.setup()
from django.db import models
from datatransfer.declarations import UPSERT
from datatransfer.registry import domain_tables, travelling_through
names, changeable = [], {}
for spec in domain_tables():
    names.append(spec.model._meta.db_table)
    names += [travelling_through(m.field)._meta.db_table for m in spec.many_to_many]
    if spec.policy != UPSERT:
        continue  # an import never updates an append-only or immutable table's rows
    keys = {f.name for fields in spec.unique_sets for f in fields}
    keys |= {s.field.name for s in spec.natural_key} | set(spec.secret_fields)
    free = [
        s.field for s in spec.content
        if not (s.field.unique or s.field.is_relation or s.field.choices or s.field.name in keys)
    ]
    texts = [
        f for f in free
        if type(f) in (models.CharField, models.TextField) and (f.max_length or 99) >= 20
    ]
    times = [f for f in free if isinstance(f, models.DateTimeField)]
    for field, kind in [(f, "text") for f in texts] + [(f, "timestamp") for f in times]:
        changeable[spec.model._meta.db_table] = {
            "pk": spec.pk.field.column,
            "column": field.column,
            "kind": kind,
            "max_length": field.max_length,
        }
        break
print(json.dumps({"tables": names, "changeable": changeable}))
"""

# The 10%-changed case's source: a copy of the seeded database in which every CHANGE_EVERY-th
# row was changed (cases.py), which is exported.
CHANGED = PREFIX + "changed"
# The template filled with the seeded data (pg_restore, then VACUUM ANALYZE): the target of
# the re-import and of the 10%-changed import is a copy of it.
FILLED = PREFIX + "filled"
# The checked bulk insert's target: a copy of the empty template, per run.
FLOOR = PREFIX + "floor"
PROFILES = ROOT / "bench" / "profiles"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(
        self,
        server_url: str,
        workdir: Path,
        repeat: int,
        slow_repeat: int,
        skip_slow: bool = False,
        floors_only: bool = False,
    ):
        self.server_url = server_url
        self.workdir = workdir
        self.repeat = repeat
        self.slow_repeat = slow_repeat
        self.skip_slow = skip_slow or floors_only
        # only what issue 25 compares: loaddomain (import, re-import, dry runs) and the floors
        self.floors_only = floors_only
        self.created: set[str] = set()
        self.tables: list[str] = []  # the domain's tables, from the models
        self.changeable: dict[str, dict] = {}  # table: the column the 10%-changed case edits

    # -- databases -------------------------------------------------------------------
    def url(self, database: str) -> str:
        return urlunsplit(urlsplit(self.server_url)._replace(path="/" + database))

    def admin(self, sql: str, params=None, database: str = "postgres"):
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def drop(self, name: str) -> None:
        assert name.startswith(PREFIX), name  # never any other database
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.discard(name)

    def create(self, name: str, template: str | None = None) -> None:
        assert name.startswith(PREFIX), name
        self.drop(name)
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.created.add(name)

    def cleanup(self) -> None:
        for name in sorted(self.created):
            self.drop(name)

    def counts(self, database: str) -> dict:
        """Rows per domain table, in the models' order."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            return {
                t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in self.tables
            }

    def wait_idle(self, database: str) -> None:
        """Wait until the children's sessions on `database` are gone (their statistics are
        flushed when the backend exits)."""
        for _ in range(100):
            left = self.admin(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                "pg_backend_pid()",
                [database],
            )[0][0]
            if not left:
                return
            time.sleep(0.1)

    def writes(self, database: str) -> dict:
        """Row versions written so far (n_tup_ins + n_tup_upd + n_tup_del), per table."""
        self.wait_idle(database)
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            ).fetchall()
        return {name: int(n) for name, n in rows}

    def versions(self, database: str) -> dict:
        """A fingerprint of every row version of the domain tables (xmin and ctid change on
        any write)."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            result = {}
            for table in self.counts(database):
                result[table] = str(
                    conn.execute(
                        "SELECT count(*), coalesce(sum(hashtextextended(xmin::text || "
                        f'ctid::text, 0)), 0) FROM "{table}"'
                    ).fetchone()
                )
            return result

    def busy(self) -> int:
        """Active sessions outside this benchmark's databases (other people's work)."""
        return self.admin(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> "
            "pg_backend_pid() "
            "AND backend_type = 'client backend' AND coalesce(datname, '') NOT LIKE %s",
            [PREFIX.replace("_", "\\_") + "%"],
        )[0][0]

    # -- commands --------------------------------------------------------------------
    def manage(self, database: str, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "manage.py"), *args]

    def env(self, database: str | None) -> dict:
        """The children's environment: no .env read, the project's own tables in a SQLite
        file of the work directory, `DATABASE_URL` (alias `platform`) on `database`."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DATABASE_URL") and k != "PROJECT_DATABASE_URL"
        }
        env["ENV_FILE"] = "/dev/null"
        env["PROJECT_DATABASE_URL"] = f"sqlite:///{self.workdir / 'project.sqlite3'}"
        if database:
            env["DATABASE_URL"] = self.url(database)
        return env

    def run(self, name: str, argv: list[str], database: str | None, may_fail: bool = False) -> dict:
        """Run one child; return its wall time and peak RSS. Fails loudly on a non-zero exit,
        unless `may_fail`: then the exit code and the last error line are returned too."""
        log_path, result_path = self.workdir / f"{name}.log", self.workdir / f"{name}.result"
        busy, load = self.busy(), os.getloadavg()[0]
        with open(log_path, "wb") as out:
            # bench/measure.py forks the command and takes its wall time and ru_maxrss from
            # os.wait4 (see there why not from here).
            launcher = [
                sys.executable,
                "-I",
                "-S",
                str(ROOT / "bench" / "measure.py"),
                str(result_path),
            ]
            subprocess.run(
                [*launcher, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=self.env(database),
                check=True,
            )
        wall, rss_kb, code = result_path.read_text().split()
        if int(code) != 0 and may_fail:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            errors = [line for line in lines if "Error" in line and ":" in line]
            return {
                "wall": float(wall),
                "rss_kb": int(rss_kb),
                "exit": int(code),
                "error": (errors or lines or [""])[-1].strip()[:600],
                "busy": busy,
                "load": load,
            }
        if int(code) != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{name} failed (exit {code}): {' '.join(argv)}\n{tail}")
        return {"wall": float(wall), "rss_kb": int(rss_kb), "busy": busy, "load": load}

    def measure(
        self, key: str, argv: list[str], database: str | None, times: int, before=None, after=None
    ) -> dict:
        """`times` runs of `argv` (best wall time; the largest peak RSS), `before()` each
        outside the timing, `after(run)` each outside the timing."""
        runs = []
        for number in range(times):
            if before:
                before()
            self.admin("CHECKPOINT")
            run = self.run(f"{key}-{number + 1}", argv, database)
            if after:
                after(run)
            runs.append(run)
            log(
                f"  {key:<18} run {number + 1}/{times}: {run['wall']:7.2f} s, peak RSS "
                f"{run['rss_kb'] / 1024:6.1f} MB"
            )
        best = min(runs, key=lambda r: r["wall"])
        return {
            "wall": best["wall"],
            "walls": [r["wall"] for r in runs],
            "rss_kb": max(r["rss_kb"] for r in runs),
            "runs": times,
            "busy": max(r["busy"] for r in runs),
            "load": max(r["load"] for r in runs),
            **{k: v for k, v in best.items() if k not in ("wall", "rss_kb", "busy", "load")},
        }

    def skip_for_floors(self, key: str, argv: list[str], database: str | None, times: int):
        """`measure`, except with --floors-only (None: not run)."""
        return None if self.floors_only else self.measure(key, argv, database, times)

    # -- the floors (issue 25) -------------------------------------------------------
    def floors(self, domain_file: Path, files: Path, rows: int) -> dict:
        """The floors of the same export file (bench/floors.py), `repeat` times each, best
        kept: the checked bulk insert into a fresh copy of the empty template, the server's
        comparison with FILLED (which holds the file's rows: every count must be 0), the
        parse, and a command's start-up."""
        log("floors (issue 25): the export as CSV, from the models (bench/floor_data.py)")
        csv_dir = files / "floors"
        script = [sys.executable, str(ROOT / "bench" / "floor_data.py")]
        self.run("floor-data", [*script, str(domain_file), str(csv_dir)], TEMPLATE)
        plan = json.loads((csv_dir / "plan.json").read_text())
        staged = sum(entry["rows"] for entry in plan)
        if staged != rows:
            raise SystemExit(f"floors: {staged:,} rows in the CSV files, {rows:,} in the database")
        inserts, comparisons, parses = [], [], []
        for number in range(self.repeat):
            self.create(FLOOR, TEMPLATE)
            self.admin("CHECKPOINT")
            inserts.append(floors.checked_bulk_insert(self.url(FLOOR), plan, csv_dir))
            self.check_rows(FLOOR, rows, "checked bulk insert")
            self.log_floor("checked bulk insert", number, inserts[-1])
        self.drop(FLOOR)
        for number in range(self.repeat):
            self.admin("CHECKPOINT")
            comparisons.append(floors.server_comparison(self.url(FILLED), plan, csv_dir))
            found = {t: c for t, c in comparisons[-1]["counts"].items() if any(c)}
            if found:
                raise SystemExit(f"server comparison: the unchanged file differs in {found}")
            self.log_floor("server comparison", number, comparisons[-1])
        for number in range(self.repeat):
            parses.append(floors.parse_floor(domain_file))
            self.log_floor("parse (orjson)", number, parses[-1])
        m = self.manage
        result = {
            "rows": staged,
            "tables": len(plan),
            "later_links": [f"{e['table']}.{c}" for e in plan for c in e.get("later", ())],
            "bulk_insert": floors.best(inserts),
            "comparison": floors.best(comparisons),
            "parse": floors.best(parses),
            "startup_help": self.measure(
                "startup_help", m(TARGET, "loaddomain", "--help"), TARGET, self.repeat
            ),
            "startup_check": self.measure("startup_check", m(TARGET, "check"), TARGET, self.repeat),
        }
        result["comparison"].pop("counts")
        shutil.rmtree(csv_dir, ignore_errors=True)
        return result

    def check_rows(self, database: str, expected: int, label: str) -> None:
        found = sum(self.counts(database).values())
        if found != expected:
            raise SystemExit(f"{label}: {found:,} rows in {database}, expected {expected:,}")

    @staticmethod
    def log_floor(label: str, number: int, run: dict) -> None:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in run["parts"].items())
        log(f"  {label:<20} run {number + 1}: {run['wall']:7.2f} s ({parts})")

    def report_totals(self, path: Path) -> dict:
        return json.loads(path.read_text())["totals"]

    def job_figures(self, path: Path, run: dict) -> None:
        """Keep with `run` its job's own time and phases (loaddomain's --report): the
        wall time minus the job's is the start-up, the rendering and the exit."""
        document = json.loads(path.read_text())
        run["job_seconds"] = document.get("durationSeconds")
        run["phases"] = document.get("phaseSeconds", {})

    # -- one scale -------------------------------------------------------------------
    def prepare_template(self) -> None:
        log("the project's own tables: manage.py migrate into the work directory's SQLite file")
        self.run("migrate-project", self.manage(None, "migrate", "-v", "0"), None)
        found = self.domain_table_names()
        self.tables, self.changeable = found["tables"], found["changeable"]
        log(f"creating the empty platform database {TEMPLATE} from {PRISMA_DDL.name}")
        self.create(TEMPLATE)
        with psycopg.connect(self.url(TEMPLATE), autocommit=True) as conn:
            conn.execute(PRISMA_DDL.read_text())  # no parameters: several statements at once
            made = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            }
        if made != set(self.tables):
            raise SystemExit(
                f"the models' tables {sorted(self.tables)} are not the tables "
                f"{PRISMA_DDL.name} made: {sorted(made)}"
            )
        log(f"  {len(self.tables)} domain tables: {', '.join(self.tables)}")
        log(f"creating {TEMPLATE_DEFERRABLE}: the same, foreign keys DEFERRABLE (for loaddata)")
        self.create(TEMPLATE_DEFERRABLE, TEMPLATE)
        with psycopg.connect(self.url(TEMPLATE_DEFERRABLE), autocommit=True) as conn:
            keys = conn.execute(
                "SELECT conrelid::regclass::text, quote_ident(conname) FROM pg_constraint "
                "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
            ).fetchall()
            for table, name in keys:
                conn.execute(
                    f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY DEFERRED"
                )
        log(f"  {len(keys)} foreign keys made DEFERRABLE INITIALLY DEFERRED")

    def domain_table_names(self) -> dict:
        """The domain's tables from the models (datatransfer.registry), in a child process,
        and for each table an import may update, the column the 10%-changed case changes:
        not the key, not unique, no choices, not a relation nor a secret; text, else a
        timestamp."""
        env = {**self.env(None), "DJANGO_SETTINGS_MODULE": "config.settings"}
        out = subprocess.run(
            [sys.executable, "-c", TABLES_SCRIPT],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    def pg_dump_tables(self) -> list[str]:
        """pg_dump's --table options for exactly the domain's tables (quoted: their names
        are mixed case)."""
        return [arg for t in self.tables for arg in ("--table", f'public."{t}"')]

    def seed(self, scale: int) -> tuple[dict, float]:
        log(f"seeddemo --scale {scale} into {SOURCE}")
        self.create(SOURCE, TEMPLATE)
        seeded = self.run(
            f"seeddemo-{scale}", self.manage(SOURCE, "seeddemo", "--scale", str(scale)), SOURCE
        )
        self.admin("VACUUM ANALYZE", database=SOURCE)
        counts = self.counts(SOURCE)
        log(
            f"  {sum(counts.values()):,} rows in {len(counts)} tables, seeded in "
            f"{seeded['wall']:.0f} s"
        )
        return counts, seeded["wall"]

    def empty_target(self) -> None:
        self.create(TARGET, TEMPLATE)

    def empty_deferrable_target(self) -> None:
        self.create(TARGET, TEMPLATE_DEFERRABLE)

    def check_target(self, expected: int, label: str):
        def check(run):
            found = sum(self.counts(TARGET).values())
            if found != expected:
                raise SystemExit(f"{label}: {found:,} rows in {TARGET}, expected {expected:,}")

        return check

    def scale(self, scale: int, profile: bool = False) -> dict:
        counts, seed_time = self.seed(scale)
        rows = sum(counts.values())
        files = self.workdir / f"scale-{scale}"
        files.mkdir(exist_ok=True)
        domain_file, django_file, pg_file = (
            files / "domain.json",
            files / "dumpdata.json",
            files / "pg.dump",
        )
        report = files / "report.json"
        r, slow = self.repeat, self.slow_repeat
        m = self.manage
        results, not_run = {}, {}

        log("export")
        results["dumpdomain"] = self.measure(
            "dumpdomain", m(SOURCE, "dumpdomain", str(domain_file)), SOURCE, r
        )
        results["dumpdata"] = self.skip_for_floors(
            "dumpdata",
            m(
                SOURCE,
                "dumpdata",
                "core",
                "--database",
                "platform",
                "--indent",
                "2",
                "-o",
                str(django_file),
            ),
            SOURCE,
            r,
        )
        results["pg_dump"] = self.measure(
            "pg_dump",
            [
                "pg_dump",
                "--data-only",
                "-Fc",
                *self.pg_dump_tables(),
                "-f",
                str(pg_file),
                self.url(SOURCE),
            ],
            None,
            r,
        )
        sizes = {
            "dumpdomain": domain_file.stat().st_size,
            "dumpdata": django_file.stat().st_size if django_file.exists() else 0,
            "pg_dump": pg_file.stat().st_size,
        }
        pg_restore = ["pg_restore", "--data-only", "--disable-triggers", "-d", self.url(TARGET)]

        log("import into an empty platform database (a copy of the template)")
        loaddomain = m(
            TARGET, "loaddomain", str(domain_file), "--report", str(report), "--no-input"
        )

        def expect(outcome: str, label: str):
            # New rows of append-only tables (audit logs) are 'appended', not 'created'.
            outcomes = (outcome, "appended") if outcome == "created" else (outcome,)

            def check(run):
                totals = self.report_totals(report)
                run["totals"] = totals
                self.job_figures(report, run)
                wanted = sum(totals.get(o, 0) for o in outcomes)
                if wanted != totals_rows(totals) or totals.get("failed"):
                    raise SystemExit(f"{label}: unexpected outcomes {totals}")

            return check

        def both(*checks):
            def check(run):
                for c in checks:
                    c(run)

            return check

        results["loaddomain"] = self.measure(
            "loaddomain",
            loaddomain,
            TARGET,
            r,
            before=self.empty_target,
            after=both(self.check_target(rows, "loaddomain"), expect("created", "loaddomain")),
        )
        loaddata = m(TARGET, "loaddata", "--database", "platform", str(django_file))
        if self.skip_slow:
            reason = "--floors-only" if self.floors_only else "--skip-slow"
            not_run["loaddata"] = not_run["loaddata_again"] = reason
            log("  loaddata not run (--skip-slow)")
        else:
            # On Prisma's tables loaddata stops at the first row whose foreign key points to
            # a row not loaded yet (Organization.ownerId -> User, before any User): the keys
            # are not deferrable, and Django defers nothing itself on PostgreSQL. Tried once.
            self.empty_target()
            self.admin("CHECKPOINT")
            attempt = self.run("loaddata-prisma", loaddata, TARGET, may_fail=True)
            attempt["rows_loaded"] = sum(self.counts(TARGET).values())
            results["loaddata_prisma_tables"] = attempt
            log(
                f"  loaddata into the Prisma-made tables: exit {attempt.get('exit', 0)} after "
                f"{attempt['wall']:.1f} s, {attempt['rows_loaded']:,} rows left: "
                f"{attempt.get('error', '')[:200]}"
            )
            # The reference figure: the same tables with their foreign keys DEFERRABLE
            # INITIALLY DEFERRED, as Django's migrations would have made them.
            results["loaddata"] = self.measure(
                "loaddata",
                loaddata,
                TARGET,
                slow,
                before=self.empty_deferrable_target,
                after=self.check_target(rows, "loaddata"),
            )
        results["pg_restore"] = self.measure(
            "pg_restore",
            [*pg_restore, str(pg_file)],
            None,
            r,
            before=self.empty_target,
            after=self.check_target(rows, "pg_restore"),
        )
        results["loaddomain_dry"] = self.measure(
            "loaddomain_dry",
            [*loaddomain, "--dry-run"],
            TARGET,
            r,
            before=self.empty_target,
            after=both(self.check_target(0, "loaddomain --dry-run"), expect("created", "dry run")),
        )

        log(f"re-import of the same file into a copy of {FILLED}: every row there, unchanged")
        self.fill(pg_file)
        self.create(TARGET, FILLED)
        writes_before, versions_before = self.writes(TARGET), self.versions(TARGET)
        results["loaddomain_again"] = self.measure(
            "loaddomain_again",
            loaddomain,
            TARGET,
            r,
            after=both(
                self.check_target(rows, "re-import"), expect("unchanged", "loaddomain re-import")
            ),
        )
        writes_after, versions_after = self.writes(TARGET), self.versions(TARGET)
        results["loaddomain_again"]["row_versions_written"] = diff_writes(
            writes_before, writes_after, self.tables
        )
        results["loaddomain_again"]["xmin_ctid_unchanged"] = versions_before == versions_after
        log(
            "  writes during the loaddomain re-imports: "
            f"{results['loaddomain_again']['row_versions_written']}, "
            f"row versions (xmin, ctid) unchanged: {versions_before == versions_after}"
        )
        results["loaddomain_again_dry"] = self.measure(
            "loaddomain_again_dry",
            [*loaddomain, "--dry-run"],
            TARGET,
            r,
            after=both(
                self.check_target(rows, "dry run of the unchanged file"),
                expect("unchanged", "loaddomain --dry-run of the unchanged file"),
            ),
        )
        writes_after = self.writes(TARGET)
        floor_results = self.floors(domain_file, files, rows)
        if not self.skip_slow:
            results["loaddata_again"] = self.measure(
                "loaddata_again",
                loaddata,
                TARGET,
                slow,
                after=self.check_target(rows, "loaddata re-import"),
            )
            writes_loaddata = self.writes(TARGET)
            results["loaddata_again"]["row_versions_written"] = diff_writes(
                writes_after, writes_loaddata, self.tables
            )

        if self.floors_only:
            not_run["loaddomain_changed"] = "--floors-only"
            results.pop("dumpdata")
            not_run["dumpdata"] = "--floors-only"
        else:
            results["loaddomain_changed"] = self.changed_import(files, rows, report)
        profiles = self.profile(scale, domain_file, report) if profile else {}
        self.drop(TARGET)
        self.drop(FILLED)
        self.drop(SOURCE)
        shutil.rmtree(files, ignore_errors=True)
        return {
            "scale": scale,
            "rows": rows,
            "counts": counts,
            "seed_seconds": seed_time,
            "file_sizes": sizes,
            "tools": results,
            "not_run": not_run,
            "profiles": profiles,
            "floors": floor_results,
        }

    def fill(self, pg_file: Path) -> None:
        """FILLED: a copy of the template filled with the seeded data by pg_restore, then
        VACUUM ANALYZEd (its copies keep the visibility map and the statistics)."""
        self.create(FILLED, TEMPLATE)
        restore = ["pg_restore", "--data-only", "--disable-triggers", "-d", self.url(FILLED)]
        self.run("fill", [*restore, str(pg_file)], None)
        self.admin("VACUUM ANALYZE", database=FILLED)

    def change_rows(self) -> dict:
        """CHANGED: a copy of the source where every CHANGE_EVERY-th row (by primary key) of
        each table an import may update has one column changed (text: a suffix; timestamp:
        one second later). The rows changed, per table."""
        self.create(CHANGED, SOURCE)
        changed = {}
        with psycopg.connect(self.url(CHANGED), autocommit=True) as conn:
            for table, change in self.changeable.items():
                column, pk = f'"{change["column"]}"', f'"{change["pk"]}"'
                if change["kind"] == "text":
                    kept = f"coalesce({column}, '')"
                    if change["max_length"]:
                        kept = f"left({kept}, {change['max_length'] - len(' (changed)')})"
                    value = f"{kept} || ' (changed)'"
                else:
                    value = f"coalesce({column}, TIMESTAMP '2000-01-01') + INTERVAL '1 second'"
                cursor = conn.execute(
                    f'UPDATE "{table}" SET {column} = {value} WHERE {pk} IN (SELECT {pk} FROM '
                    f'(SELECT {pk}, row_number() OVER (ORDER BY {pk}) AS n FROM "{table}") AS '
                    f"numbered WHERE n % {CHANGE_EVERY} = 0)"
                )
                changed[table] = cursor.rowcount
        return changed

    def changed_import(self, files: Path, rows: int, report: Path) -> dict:
        """loaddomain of a file in which ~10% of the rows changed, into a copy of FILLED:
        its report must say exactly those rows updated and every other one unchanged; the
        row versions written (pg_stat_user_tables) are kept, per run, for the target (as
        many as the rows changed: none for an unchanged row)."""
        log(
            f"import of a file in which every {CHANGE_EVERY}th row changed, into a copy of {FILLED}"
        )
        changed = self.change_rows()
        expected = sum(changed.values())
        changed_file = files / "changed.json"
        self.run(
            "dumpdomain-changed", self.manage(CHANGED, "dumpdomain", str(changed_file)), CHANGED
        )
        self.drop(CHANGED)
        columns = {t: c["column"] for t, c in self.changeable.items()}
        log(
            f"  {expected:,} rows changed: "
            + ", ".join(f"{t}.{columns[t]} {n:,}" for t, n in changed.items())
        )
        writes = {}

        def target():
            self.create(TARGET, FILLED)
            writes["before"] = self.writes(TARGET)

        written = []

        def check(run):
            self.check_target(rows, "10%-changed import")(run)
            totals = run["totals"] = self.report_totals(report)
            self.job_figures(report, run)
            updated, unchanged = totals.get("updated", 0), totals.get("unchanged", 0)
            if updated != expected or unchanged != totals_rows(totals) - expected:
                raise SystemExit(
                    f"10%-changed import: {expected:,} rows changed, but the report says {totals}"
                )
            diff = diff_writes(writes["before"], self.writes(TARGET), self.tables)
            written.append(diff["domain_tables"])

        argv = [
            *self.manage(
                TARGET, "loaddomain", str(changed_file), "--report", str(report), "--no-input"
            ),
        ]
        result = self.measure("loaddomain_changed", argv, TARGET, self.repeat, target, check)
        result |= {
            "changed_rows": expected,
            "changed_per_table": changed,
            "changed_columns": columns,
            "row_versions_written": written,
        }
        log(f"  row versions written per run: {written} (rows changed: {expected:,})")
        changed_file.unlink()
        return result

    def profile(self, scale: int, domain_file: Path, report: Path) -> dict:
        """py-spy's samples of one loaddomain (into an empty database) and one dumpdomain, out
        of the timed runs: bench/profiles/scale-N-COMMAND.txt (collapsed stacks, for
        speedscope or flamegraph.pl) and .md (the functions where the time goes)."""
        from profile_summary import summarize  # bench/profile_summary.py

        PROFILES.mkdir(exist_ok=True)
        commands = {
            "loaddomain": (
                TARGET,
                [
                    *self.manage(
                        TARGET,
                        "loaddomain",
                        str(domain_file),
                        "--report",
                        str(report),
                        "--no-input",
                    ),
                ],
            ),
            "dumpdomain": (
                SOURCE,
                self.manage(SOURCE, "dumpdomain", str(self.workdir / "profiled.json")),
            ),
        }
        written = {}
        for name, (database, argv) in commands.items():
            self.empty_target()
            raw = PROFILES / f"scale-{scale}-{name}.txt"
            log(f"py-spy record of {name} at scale {scale} -> {raw.relative_to(ROOT)}")
            command = [py_spy(), "record", "--idle", "--rate", "100", "--format", "raw"]
            done = subprocess.run(
                [*command, "--output", str(raw), "--", *argv],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=self.env(database),
            )
            if done.returncode or not raw.exists():
                raise SystemExit(
                    f"py-spy record of {name} failed (exit {done.returncode}); it needs ptrace "
                    "permission on its child (root, or kernel.yama.ptrace_scope <= 1):\n"
                    + done.stderr[-2000:]
                )
            title = f"`{name}` at scale {scale} (commit {git_head()})"
            summary = raw.with_suffix(".md")
            summary.write_text(summarize(raw.read_text(), title))
            written[name] = str(summary.relative_to(ROOT))
        return written

    def million(self, scale: int) -> dict:
        counts, seed_time = self.seed(scale)
        rows = sum(counts.values())
        domain_file, report = self.workdir / "million.json", self.workdir / "million-report.json"
        results = {}
        results["dumpdomain"] = self.measure(
            "dumpdomain", self.manage(SOURCE, "dumpdomain", str(domain_file)), SOURCE, 1
        )
        loaddomain = [
            *self.manage(
                TARGET, "loaddomain", str(domain_file), "--report", str(report), "--no-input"
            ),
        ]

        def totals(run):
            run["totals"] = self.report_totals(report)

        results["loaddomain"] = self.measure(
            "loaddomain",
            loaddomain,
            TARGET,
            1,
            before=self.empty_target,
            after=lambda run: (self.check_target(rows, "loaddomain")(run), totals(run)),
        )
        results["loaddomain_dry"] = self.measure(
            "loaddomain_dry",
            [*loaddomain, "--dry-run"],
            TARGET,
            1,
            before=self.empty_target,
            after=lambda run: (self.check_target(0, "dry run")(run), totals(run)),
        )
        size = domain_file.stat().st_size
        domain_file.unlink()
        self.drop(TARGET)
        self.drop(SOURCE)
        return {
            "scale": scale,
            "rows": rows,
            "counts": counts,
            "seed_seconds": seed_time,
            "file_sizes": {"dumpdomain": size},
            "tools": results,
        }


def totals_rows(totals: dict) -> int:
    return sum(totals.values())


def diff_writes(before: dict, after: dict, tables: list[str]) -> dict:
    domain = sum(after.get(t, 0) - before.get(t, 0) for t in after if t in tables)
    other = {
        t: after[t] - before.get(t, 0)
        for t in after
        if t not in tables and after[t] != before.get(t, 0)
    }
    return {"domain_tables": domain, "other_tables": other}


# -- the machine ---------------------------------------------------------------------
def machine(bench: Bench) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    except OSError:
        pass
    import django
    import ijson
    import orjson

    server = bench.admin("SHOW server_version")[0][0]
    pg_dump = subprocess.run(
        ["pg_dump", "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "os": os_name,
        "python": platform.python_version(),
        "django": django.__version__,
        "psycopg": psycopg.__version__,
        "ijson": f"{ijson.__version__} ({ijson.backend})",
        "orjson": orjson.__version__,
        "postgresql": server,
        "pg_dump": pg_dump,
        "commit": git_head(),
        "uncommitted": uncommitted(),
        # What the databases are: Prisma's DDL loaded as is (not Django's migrations).
        "layout": str(PRISMA_DDL.relative_to(ROOT)),
    }


def uncommitted() -> dict:
    """The code the children run beyond the commit: files changed in the work tree outside
    bench/ and docs/ (other people's work in progress), and a digest of that diff."""
    import hashlib

    outside = ["--", ".", ":(exclude)bench", ":(exclude)docs"]
    files = subprocess.run(
        ["git", "diff", "HEAD", "--name-only", *outside], capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    diff = subprocess.run(["git", "diff", "HEAD", *outside], capture_output=True, cwd=ROOT).stdout
    return {"files": files, "digest": hashlib.sha256(diff).hexdigest()[:12] if files else ""}


def py_spy() -> str:
    """The py-spy of the bench dependency group (next to this Python), else on the PATH."""
    found = Path(sys.executable).with_name("py-spy")
    if found.exists():
        return str(found)
    if shutil.which("py-spy"):
        return shutil.which("py-spy")
    raise SystemExit("--profile needs py-spy: pip install --group bench (make bench installs it)")


def git_head() -> str:
    command = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scales", nargs="+", type=int, default=[100], help="seeddemo scales (default 100)."
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="Runs per tool, best wall time kept (default 3)."
    )
    parser.add_argument("--slow-repeat", type=int, default=1, help="Runs of loaddata (default 1).")
    parser.add_argument(
        "--skip-slow",
        action="store_true",
        help="Do not run loaddata (import, re-import; minutes each at scale 400): 'not run' "
        "in the tables.",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Also record one loaddomain and one dumpdomain with py-spy at the first scale, "
        "outside the timed runs, into bench/profiles/.",
    )
    parser.add_argument(
        "--floors-only",
        action="store_true",
        help="Only loaddomain (import, re-import, dry runs) and the floors of issue 25 "
        "(checked bulk insert, server comparison, parse, start-up); saved apart "
        "(results.json's 'floors').",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="Instead: the 1,000,000-row check (dumpdomain, loaddomain, --dry-run once each).",
    )
    parser.add_argument(
        "--million-scale", type=int, default=800, help="seeddemo scale of --million (default 800)."
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="Any database of the PostgreSQL server to use (default $BENCH_DATABASE_URL).",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="Do not write results.json and the docs."
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="Only write docs/benchmarks.md and the plot again from bench/results.json.",
    )
    args = parser.parse_args()
    if args.render_only:
        sys.path.insert(0, str(ROOT / "bench"))
        from report import render_docs

        print(render_docs(json.loads(RESULTS.read_text()), DOC, PLOT))
        return

    if args.profile:
        py_spy()  # missing: say so now, not after the first scale
    workdir = Path(tempfile.mkdtemp(prefix="bench_"))
    bench = Bench(
        args.server_url,
        workdir,
        args.repeat,
        args.slow_repeat,
        args.skip_slow,
        floors_only=args.floors_only,
    )
    log(f"work files and child logs in {workdir}")
    log(
        f"loaddata is slow: best of {args.slow_repeat} (--slow-repeat); "
        f"the others best of {args.repeat} (--repeat)"
    )
    info = machine(bench)
    info["rss_floor_kb"] = bench.run("floor", ["true"], None)["rss_kb"]
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info["load_start"] = list(os.getloadavg())
    clock = time.monotonic()
    try:
        bench.prepare_template()
        if args.million:
            result = {"machine": info, "date": started, **bench.million(args.million_scale)}
        else:
            scales = [
                bench.scale(scale, profile=args.profile and n == 0)
                for n, scale in enumerate(args.scales)
            ]
            result = {
                "machine": info,
                "date": started,
                "repeat": args.repeat,
                "slow_repeat": args.slow_repeat,
                "skip_slow": args.skip_slow,
                "floors_only": args.floors_only,
                "scales": scales,
            }
    finally:
        bench.cleanup()
    # Another engineer may commit while it runs: say so in the docs.
    result["machine"]["commit_end"] = git_head()
    result["machine"]["uncommitted_end"] = uncommitted()
    result["machine"]["load_end"] = list(os.getloadavg())
    result["machine"]["tables"] = bench.tables
    result["duration_seconds"] = round(time.monotonic() - clock)
    shutil.rmtree(workdir, ignore_errors=True)

    sys.path.insert(0, str(ROOT / "bench"))
    from report import render_docs  # noqa: E402 (bench/report.py, next to this file)

    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved["million" if args.million else "floors" if args.floors_only else "main"] = result
    if not args.no_docs:
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
        text = render_docs(saved, DOC, PLOT)
        print(text)
    else:
        print(json.dumps(result, indent=2))
        if not args.million:  # the floors and the phases, as the docs would show them
            from report import floor_lines

            print("\n".join(floor_lines(result)))


if __name__ == "__main__":
    main()
