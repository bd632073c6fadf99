"""An A/B measurement of two checkouts of the project on the same data (issue 13).

    python bench/ab.py OLD_TREE NEW_TREE [--scale 100] [--repeat 3]

OLD_TREE and NEW_TREE are work trees of two commits (`git worktree add --detach DIR COMMIT`,
then `make install` in each); every command runs with that tree's own .venv/bin/python and
manage.py. The data: Prisma's DDL (core/prisma/prisma-schema.sql of NEW_TREE) loaded into
an empty database, copied, and seeded by `seeddemo --scale N` (NEW_TREE's). Then, old and
new alternately, `--repeat` times each:

- export: `dumpdomain FILE` of the seeded database;
- import: `loaddomain FILE --report R` into a fresh copy of the empty template, its report
  must say every row created (or appended, for append-only tables);
- re-import: `loaddomain FILE --report R` again into the same database (after VACUUM
  ANALYZE), its report must say every row unchanged;
- 1 in 10 changed: `loaddomain CHANGED --report R` into that database again, CHANGED being
  the export of a copy of the source in which every 10th row (by id) of each table with an
  `updatedAt` column has it one second later; its report must say exactly those rows
  updated and every other one unchanged.

Both versions import the same file (NEW_TREE's first export): the file format is the same.
Wall time is taken around the child; CPU is the child's user + system time
(RUSAGE_CHILDREN, before and after). Scratch databases are named h_bench_*; the script
creates and drops them and never touches any other database.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

PREFIX = "h_bench_"
TEMPLATE, SOURCE, TARGET = PREFIX + "tpl", PREFIX + "src", PREFIX + "tgt"
CHANGED = PREFIX + "changed"
STEPS = ("export", "import (empty)", "re-import (unchanged)", "import (1 in 10 changed)")
CHANGE_EVERY = 10


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class AB:
    def __init__(self, server_url: str, workdir: Path):
        self.server_url, self.workdir = server_url, workdir

    def url(self, database: str) -> str:
        return urlunsplit(urlsplit(self.server_url)._replace(path="/" + database))

    def admin(self, sql: str, database: str = "postgres") -> None:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)

    def create(self, name: str, template: str | None = None) -> None:
        assert name.startswith(PREFIX), name  # never any other database
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop_all(self) -> None:
        for name in (TARGET, CHANGED, SOURCE, TEMPLATE):
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def run(self, tree: Path, database: str, *args: str) -> tuple[float, float]:
        """`manage.py ARGS` of `tree` on `database`: its wall time and user + system CPU."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DATABASE_URL") and k != "PROJECT_DATABASE_URL"
        }
        env |= {
            "ENV_FILE": "/dev/null",
            "PROJECT_DATABASE_URL": f"sqlite:///{self.workdir / tree.name}.sqlite3",
            "DATABASE_URL": self.url(database),
        }
        argv = [str(tree / ".venv" / "bin" / "python"), str(tree / "manage.py"), *args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu

    def change_every_tenth_row(self) -> int:
        """CHANGED: a copy of SOURCE where every CHANGE_EVERY-th row (by id) of each table
        with an `updatedAt` column has it one second later. The number of rows changed."""
        self.create(CHANGED, SOURCE)
        changed = 0
        with psycopg.connect(self.url(CHANGED), autocommit=True) as conn:
            tables = [
                name
                for (name,) in conn.execute(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND column_name = 'updatedAt'"
                )
            ]
            for table in tables:
                cursor = conn.execute(
                    f'UPDATE "{table}" SET "updatedAt" = "updatedAt" + INTERVAL '
                    f"'1 second' WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
                    f'(ORDER BY id) AS n FROM "{table}") AS numbered WHERE n % {CHANGE_EVERY} = 0)'
                )
                changed += cursor.rowcount
        return changed


def no_input(tree: Path) -> tuple[str, ...]:
    """`--no-input` for a tree whose loaddomain asks before writing (it refuses to write
    without it off a terminal); nothing for an older tree, which would refuse the option."""
    asks = (tree / "datatransfer" / "management" / "confirmation.py").exists()
    return ("--no-input",) if asks else ()


def outcomes(report: Path) -> dict:
    return json.loads(report.read_text())["totals"]


def expect(totals: dict, wanted: tuple[str, ...], label: str) -> None:
    found = sum(totals.get(o, 0) for o in wanted)
    if found != sum(totals.values()):
        raise SystemExit(f"{label}: not every row {'/'.join(wanted)}: {totals}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    workdir = Path(tempfile.mkdtemp(prefix="h_bench_ab_"))
    ab = AB(args.server_url, workdir)
    log(f"load average at the start: {os.getloadavg()}")
    try:
        for tree in trees.values():
            ab.run(tree, SOURCE, "migrate", "-v", "0")  # the project's own SQLite file
        ab.create(TEMPLATE)
        with psycopg.connect(ab.url(TEMPLATE), autocommit=True) as conn:
            conn.execute((trees["new"] / "core" / "prisma" / "prisma-schema.sql").read_text())
        ab.create(SOURCE, TEMPLATE)
        wall, _ = ab.run(trees["new"], SOURCE, "seeddemo", "--scale", str(args.scale))
        ab.admin("VACUUM ANALYZE", SOURCE)
        log(f"seeddemo --scale {args.scale} in {wall:.0f} s")
        shared = workdir / "shared.json"  # the file both versions import
        changed_file = workdir / "changed.json"  # the 1-in-10 file, exported by NEW_TREE
        expected_updates = ab.change_every_tenth_row()
        ab.run(trees["new"], CHANGED, "dumpdomain", str(changed_file))
        log(f"{expected_updates:,} rows changed in {changed_file.name}")
        report = workdir / "report.json"
        times: dict = {(v, s): [] for v in trees for s in STEPS}
        for number in range(args.repeat):
            for version, tree in trees.items():
                export = workdir / f"{version}.json"
                ab.admin("CHECKPOINT")
                times[version, "export"].append(ab.run(tree, SOURCE, "dumpdomain", str(export)))
                if not shared.exists():
                    export.rename(shared)
                ab.create(TARGET, TEMPLATE)
                ab.admin("CHECKPOINT")
                load = ("loaddomain", str(shared), "--report", str(report), *no_input(tree))
                times[version, "import (empty)"].append(ab.run(tree, TARGET, *load))
                expect(outcomes(report), ("created", "appended"), f"{version} import")
                ab.admin("VACUUM ANALYZE", TARGET)
                ab.admin("CHECKPOINT")
                times[version, "re-import (unchanged)"].append(ab.run(tree, TARGET, *load))
                expect(outcomes(report), ("unchanged",), f"{version} re-import")
                ab.admin("CHECKPOINT")
                changed_load = (
                    "loaddomain",
                    str(changed_file),
                    "--report",
                    str(report),
                    *no_input(tree),
                )
                times[version, STEPS[3]].append(ab.run(tree, TARGET, *changed_load))
                updated = outcomes(report).get("updated", 0)
                if updated != expected_updates:
                    raise SystemExit(f"{version}: {updated} updated, {expected_updates} changed")
                last = {s: times[version, s][-1] for s in STEPS}
                log(
                    f"run {number + 1} {version}: "
                    + ", ".join(f"{s} {w:.2f} s wall / {c:.2f} s CPU" for s, (w, c) in last.items())
                )
    finally:
        ab.drop_all()
    log(f"load average at the end: {os.getloadavg()}")
    print("\n| step | old: best wall / CPU | new: best wall / CPU | new/old wall | new/old CPU |")
    print("|---|---:|---:|---:|---:|")
    for step in STEPS:
        old, new = (min(times[v, step]) for v in trees)
        old_cpu, new_cpu = (min(c for _, c in times[v, step]) for v in trees)
        print(
            f"| {step} | {old[0]:.2f} s / {old_cpu:.2f} s | {new[0]:.2f} s / {new_cpu:.2f} s "
            f"| {new[0] / old[0]:.2f} | {new_cpu / old_cpu:.2f} |"
        )
    print("\nall runs (wall, CPU):", json.dumps({f"{v} {s}": t for (v, s), t in times.items()}))


if __name__ == "__main__":
    sys.exit(main())
