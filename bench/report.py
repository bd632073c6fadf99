"""Render bench/results.json as docs/benchmarks.md and docs/benchmarks.png."""

import re
from pathlib import Path

from cases import CHANGE_EVERY, SLOW, TOOLS  # bench/cases.py

GROUPS = {  # step: (Django's tool, PostgreSQL's tool) it is compared with
    "export": ("dumpdata", "pg_dump"),
    "import (empty)": ("loaddata", "pg_restore"),
    "re-import (unchanged)": ("loaddata_again", "pg_restore"),
    "import (1 in 10 changed)": (None, "pg_restore"),
    "dry run (empty)": ("loaddata", "pg_restore"),
}
FLAT_TOOLS = [
    "dumpdomain",
    "loaddomain",
    "loaddomain_again",
    "loaddomain_again_dry",
    "loaddomain_changed",
    "loaddomain_dry",
]
STEPS = {key: step for key, step, _ in TOOLS}
LABELS = {key: label for key, _, label in TOOLS}
MEMORY_LIMIT_MB = 150  # issue 14: every dumpdomain / loaddomain under it, 1M rows included
SHORT = {
    "dumpdomain": "dumpdomain",
    "dumpdata": "dumpdata",
    "pg_dump": "pg_dump",
    "loaddomain": "loaddomain\n(import)",
    "loaddata": "loaddata\n(deferrable FKs)",
    "pg_restore": "pg_restore",
    "loaddomain_again": "loaddomain\nre-import",
    "loaddomain_again_dry": "loaddomain\n--dry-run\n(unchanged)",
    "loaddata_again": "loaddata\nre-import",
    "loaddomain_changed": "loaddomain\n10% changed",
    "loaddomain_dry": "loaddomain\n--dry-run",
}


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f} MB"


def seconds(value: float) -> str:
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def mark(ok: bool | None) -> str:
    return "—" if ok is None else "✅" if ok else "❌"


def not_run_reason(scale: dict, key: str) -> str:
    return scale.get("not_run", {}).get(key, "not in this run")


def results_table(scale: dict) -> list[str]:
    tools, rows = scale["tools"], scale["rows"]
    lines = [
        "| step | tool | wall time (best of n) | rows/s | peak RSS | speed-up vs Django's tool "
        "| time vs PostgreSQL's tool |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, step, label in TOOLS:
        if key not in tools:
            lines.append(f"| {step} | {label} | not run ({not_run_reason(scale, key)}) | | | | |")
            continue
        t = tools[key]
        django, pg = GROUPS[step]
        if django in tools and key != django:
            vs_django = f"{tools[django]['wall'] / t['wall']:.1f}×"
        elif django and key != django:
            vs_django = "not run"
        else:
            vs_django = "—"
        vs_pg = f"{t['wall'] / tools[pg]['wall']:.1f}×" if pg and pg in tools and key != pg else "—"
        lines.append(
            f"| {step} | {label} | {seconds(t['wall'])} (n={t['runs']}) | "
            f"{rows / t['wall']:,.0f} | "
            f"{mb(t['rss_kb'])} | {vs_django} | {vs_pg} |"
        )
    return lines


def ratio_target(w: dict, key: str, reference: str, limit: float, digits: int = 1):
    """(measured, met) for `key`'s wall time over `reference`'s at most `limit`; ("not
    run", None) when either is missing."""
    if key not in w or reference not in w:
        return "not run", None
    value = w[key] / w[reference]
    return f"{value:.{digits}f}×", value <= limit


def targets(scale: dict) -> list[tuple[str, str, str, bool | None]]:
    """Issue 14's targets. `loaddata` and `dumpdata` stay in the results as references."""
    t = scale["tools"]
    w = {key: value["wall"] for key, value in t.items()}
    return [
        (
            "import into an empty database",
            "≤ 2× `pg_restore --data-only`",
            *ratio_target(w, "loaddomain", "pg_restore", 2),
        ),
        (
            "re-import of an unchanged file",
            "≤ 1× `pg_restore --data-only` (into an empty database)",
            *ratio_target(w, "loaddomain_again", "pg_restore", 1),
        ),
        *unchanged_rows_target(t),
        ("export", "≤ 2× `pg_dump -Fc --data-only`", *ratio_target(w, "dumpdomain", "pg_dump", 2)),
        (
            f"import of a file with 1 row in {CHANGE_EVERY} changed",
            "≤ 2× `pg_restore --data-only` (into an empty database)",
            *ratio_target(w, "loaddomain_changed", "pg_restore", 2),
        ),
        changed_rows_target(t.get("loaddomain_changed")),
        (
            "dry run",
            "≤ 1.1× the real import",
            *ratio_target(w, "loaddomain_dry", "loaddomain", 1.1, 2),
        ),
        *memory_target(t),
    ]


def unchanged_rows_target(t: dict) -> list[tuple[str, str, str, bool]]:
    """The re-import's row versions (none may be written), with `loaddata`'s for reference;
    nothing when the re-import did not run."""
    again = t.get("loaddomain_again")
    if not again:
        return []
    written = again["row_versions_written"]["domain_tables"]
    loaddata_written = (
        t.get("loaddata_again", {}).get("row_versions_written", {}).get("domain_tables")
    )
    by_loaddata = f" (`loaddata`: {loaddata_written:,})" if loaddata_written is not None else ""
    return [
        (
            "",
            "not one row version written",
            f"{written:,} written in {again['runs']} runs; xmin/ctid of every row "
            f"{'unchanged' if again['xmin_ctid_unchanged'] else 'CHANGED'}{by_loaddata}",
            written == 0 and again["xmin_ctid_unchanged"],
        )
    ]


def changed_rows_target(changed: dict | None) -> tuple[str, str, str, bool | None]:
    """The changed file's row versions: exactly one per changed row, in every run."""
    if not changed:
        return ("", "row versions written = rows changed", "not run", None)
    written = changed["row_versions_written"]
    return (
        "",
        "row versions written = rows changed (none for an unchanged row)",
        f"{', '.join(f'{n:,}' for n in written)} written in {len(written)} runs; "
        f"{changed['changed_rows']:,} rows changed",
        all(n == changed["changed_rows"] for n in written),
    )


def memory_target(t: dict) -> list[tuple[str, str, str, bool]]:
    """The highest peak RSS of dumpdomain and loaddomain's cases, under the limit."""
    ours = {k: t[k]["rss_kb"] for k in FLAT_TOOLS if k in t}
    if not ours:
        return []
    top = max(ours, key=ours.get)
    return [
        (
            "memory",
            f"peak RSS under {MEMORY_LIMIT_MB} MB (1,000,000 rows: see that check)",
            f"at most {mb(ours[top])} ({STEPS[top]}: {LABELS[top]})",
            ours[top] < MEMORY_LIMIT_MB * 1024,
        )
    ]


def code_lines(main: dict | None, million: dict | None) -> list[str]:
    lines = []
    for name, run in (("main run", main), ("1,000,000-row check", million)):
        if not run:
            continue
        start, end = (
            run["machine"]["commit"],
            run["machine"].get("commit_end", run["machine"]["commit"]),
        )
        if start == end:
            lines.append(f"- code of the {name}: commit {start}")
        else:
            lines.append(
                f"- code of the {name}: **the tree changed during the run**, from commit {start} "
                f"to {end} (each command runs the code checked out when it starts)"
            )
        dirty = run["machine"].get("uncommitted", {})
        dirty_end = run["machine"].get("uncommitted_end", dirty)
        if dirty.get("files") or dirty_end.get("files"):
            files = sorted(set(dirty.get("files", [])) | set(dirty_end.get("files", [])))
            same = dirty == dirty_end
            lines.append(
                f"  plus changes not committed in the work tree (others' work in progress) in "
                f"{', '.join(f'`{f}`' for f in files)}"
                + (
                    f", the same from start to end (diff digest {dirty.get('digest')})"
                    if same
                    else " — **they changed during the run**"
                )
            )
    return lines


def layout_lines(main: dict | None, million: dict | None) -> list[str]:
    lines = []
    for name, run in (("main run", main), ("1,000,000-row check", million)):
        if not run:
            continue
        m = run["machine"]
        layout = m.get("layout")
        if layout:
            lines.append(
                f"- databases of the {name}: the Prisma-made tables (Prisma's DDL, `{layout}`, "
                "loaded as is)"
            )
        else:
            lines.append(
                f"- databases of the {name}: **the earlier layout** (`core_*` tables made by "
                "Django's migrations), not rerun on the Prisma-made tables"
            )
        if "load_start" in m:
            start, end = m["load_start"], m.get("load_end", m["load_start"])
            minutes = run.get("duration_seconds", 0) / 60
            lines.append(
                f"- load average (1, 5, 15 min) at the start of the {name}: "
                f"{', '.join(f'{x:.2f}' for x in start)}; at the end: "
                f"{', '.join(f'{x:.2f}' for x in end)}; the run took {minutes:.0f} minutes"
            )
    return lines


def short_error(error: str) -> str:
    """The error without the fixture's path (a temporary file of the run)."""
    return re.sub(r"Problem installing fixture '[^']*': ", "", error)


def loaddata_attempt(scale: dict) -> list[str]:
    """The line about `loaddata` into the Prisma-made tables themselves."""
    attempt = scale["tools"].get("loaddata_prisma_tables")
    if not attempt:
        return []
    if attempt.get("exit", 0) == 0:
        return [
            "",
            f"† `loaddata` into the Prisma-made tables themselves succeeded in "
            f"{seconds(attempt['wall'])}.",
        ]
    return [
        "",
        "† `loaddata` **cannot load this data into the Prisma-made tables**: it failed after "
        f"{seconds(attempt['wall'])} (exit {attempt['exit']}, {attempt['rows_loaded']:,} rows "
        f"left, the transaction rolled back) with `{short_error(attempt['error'])}`. Prisma's "
        "foreign keys "
        "are not deferrable and the Organization ↔ User foreign keys form a cycle, so no order "
        "of the rows loads; Django defers nothing itself on PostgreSQL (it relies on the "
        "`DEFERRABLE INITIALLY DEFERRED` keys its own migrations create). The `loaddata` figure "
        "above is therefore measured on a copy of the same tables whose foreign keys were "
        "altered to `DEFERRABLE INITIALLY DEFERRED`, as Django would have made them: the "
        "reference of the speed-up column. The re-import needs no such copy (every "
        "referenced row is already there) and runs on the Prisma-made tables.",
    ]


def changed_lines(scale: dict) -> list[str]:
    """What the 10%-changed case changed."""
    changed = scale["tools"].get("loaddomain_changed")
    if not changed:
        return []
    columns, rows = changed["changed_columns"], changed["changed_per_table"]
    updatable = sum(scale["counts"][t] for t in rows)
    return [
        "",
        f"Import of a file with 1 row in {CHANGE_EVERY} changed: {changed['changed_rows']:,} "
        f"rows changed, {100 * changed['changed_rows'] / updatable:.1f}% of the "
        f"{len(rows)} tables an import may update ({updatable:,} rows), "
        f"{100 * changed['changed_rows'] / scale['rows']:.1f}% of all rows; "
        "by table and column: "
        + ", ".join(f"{t}.{columns[t]} {n:,}" for t, n in rows.items())
        + "; the report said them `updated` and every other row `unchanged`.",
    ]


def profile_lines(scale: dict) -> list[str]:
    profiles = scale.get("profiles")
    if not profiles:
        return []
    return [
        "",
        "Profiles (py-spy, `--profile`): "
        + ", ".join(f"[`{name}`](../{path})" for name, path in profiles.items())
        + ".",
    ]


def render_docs(saved: dict, doc: Path, plot: Path) -> str:
    """Write docs/benchmarks.md (and its plot) from `saved`, bench/results.json's content;
    return the text. Each section is a function of its own, in the order they are read."""
    main, million = saved.get("main"), saved.get("million")
    machine = (main or million)["machine"]
    lines = [
        *header_lines(main, million, machine),
        *method_lines(machine),
        *case_method_lines(),
    ]
    if main:
        lines += run_settings_lines(main)
        for scale in main["scales"]:
            lines += scale_lines(scale)
        lines += memory_growth_lines(main["scales"])
    if million:
        lines += million_lines(million, main)
    lines += floors_section(saved)
    notes = Path(__file__).with_name("notes.md")
    if notes.exists():  # the profile of what misses a target, written by hand
        lines += ["", notes.read_text().strip()]
    lines += rerun_lines(main)
    text = "\n".join(lines)
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
    draw(main, million, plot)
    return text


def header_lines(main: dict | None, million: dict | None, m: dict) -> list[str]:
    """The title, where the page comes from, and the machine `m` and code it ran on."""
    return [
        "# Benchmarks",
        "",
        "`dumpdomain` / `loaddomain` against Django's `dumpdata` / `loaddata` and PostgreSQL's "
        "`pg_dump` / `pg_restore`, side by side in one run on the same data (issue 6, section 4). "
        "Written by `bench/run.py` (`make bench`) from `bench/results.json`; do not edit by hand.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM: {m['ram_gib']} GiB",
        f"- OS: {m['os']}",
        f"- Python {m['python']}, Django {m['django']}, psycopg {m['psycopg']}, ijson "
        f"{m['ijson']}, orjson {m['orjson']}",
        f"- PostgreSQL {m['postgresql']} (local, 127.0.0.1), {m['pg_dump']}",
        *code_lines(main, million),
        *layout_lines(main, million),
    ]


def method_lines(m: dict) -> list[str]:
    """How it is measured: the databases, the data set, and how time and memory are taken
    (the launcher's floor, from the machine `m`, included)."""
    return [
        "",
        "## How it is measured",
        "",
        "- The databases are the platform's own layout: a template database is made by "
        "loading Prisma's DDL (`core/prisma/prisma-schema.sql`: enum types, `TIMESTAMP(3)`, "
        "camelCase columns, foreign keys that are not deferrable) into an empty database, as "
        "the platform does (no Django `migrate`, no `django_migrations` table); every scratch "
        "database is a copy of it (`CREATE DATABASE … TEMPLATE`, outside the timing). The "
        "project's own tables (export history) are in a SQLite file of the run's work "
        "directory (`PROJECT_DATABASE_URL`), and no `.env` is read (`ENV_FILE=/dev/null`).",
        "- The data set is `seeddemo --scale N` in a scratch database; **rows** is the total "
        "of every domain table (the 16 tables of the models and Prisma's link table "
        "`_PermissionToUser`; the names come from the models, `datatransfer.registry`, and are "
        "checked against the tables the DDL made), and **rows/s** is that number over the wall "
        "time, for every tool alike.",
        "- Every measured command is a child process (`manage.py …` with `DATABASE_URL`, the "
        "`platform` alias, or "
        "`pg_dump` / `pg_restore`). **Wall time** is taken around the child; **peak RSS** is "
        "the child's "
        "own `ru_maxrss` from `os.wait4`, taken by a small launcher (`bench/measure.py`, run as "
        "`python -I -S`) that forks the command: a command forked straight from the benchmark's "
        "own Python would inherit that process's high-water mark in `ru_maxrss` (Linux keeps the "
        "pre-exec mark), so the launcher is kept small; its floor, measured for `true`, is "
        f"{m.get('rss_floor_kb', 0) / 1024:.1f} MB. The client's memory only: the PostgreSQL "
        "server's is not counted, for any tool. A `CHECKPOINT` runs before each measured command.",
    ]


def case_method_lines() -> list[str]:
    """How it is measured, case by case: export, import, re-import, the changed file, the
    dry run."""
    return [
        "- Export: `dumpdomain FILE` (indent 2, the default), `dumpdata core --database platform "
        "--indent 2 -o FILE` (without `--database` the router leaves `dumpdata` nothing to read "
        "in the project's database: it writes `[]`), `pg_dump --data-only -Fc` with one "
        "`--table 'public.\"Name\"'` per domain table (the domain tables only, as the other "
        "two).",
        "- Import into an empty database: each run gets a fresh copy of the empty template. "
        "`loaddomain FILE`, `loaddata --database platform FILE` (the "
        "`dumpdata` file; see † under each table for the foreign keys), and `pg_restore "
        "--data-only --disable-triggers` (`--disable-triggers`, as superuser, because of the "
        "Organization ↔ User foreign-key cycle). After each run the row count of the target "
        "is checked, and `loaddomain`'s `--report` must say every row `created`.",
        "- Re-import: the target is a copy of a database filled once (by `pg_restore`, outside "
        "the timing) and `VACUUM ANALYZE`d; "
        "then `loaddomain` of the same file (its report must say every row `unchanged`), then "
        "`loaddata`. "
        "Row versions written are read from `pg_stat_user_tables` (`n_tup_ins + n_tup_upd + "
        "n_tup_del` "
        "of the domain tables, before and after, once the children's sessions have ended), and "
        "a fingerprint of every row's `xmin` and `ctid` is compared before and after.",
        f"- Import of a file in which 1 row in {CHANGE_EVERY} changed: in a copy of the seeded "
        f"database, every {CHANGE_EVERY}th row (by primary key) of each table an import may "
        "update gets one column changed with SQL (the first text column that is not a key, "
        "not unique, not a relation, not a secret and has no choices, a suffix added; else a "
        "timestamp, one second later; the columns are read from the models and listed under "
        "each table), and that copy is exported by `dumpdomain` (outside the timing). The "
        "append-only and immutable tables (audit log, blockchain) and the link table are left "
        "as they were: an import never updates their rows. Each run imports that file into a "
        "fresh copy of the filled database; its report must say exactly the changed rows "
        "`updated` and every other row `unchanged`, and the row versions written "
        "(`pg_stat_user_tables`, as for the re-import) are counted per run: the target is as "
        "many as the rows changed.",
        "- Dry run: `loaddomain FILE --dry-run` into an empty database, and into the copy of "
        "the filled database (the unchanged file: its report must say every row `unchanged`).",
        "- `loaddomain` runs with `--report FILE` (to check the outcomes; a few KB of JSON).",
    ]


def run_settings_lines(main: dict) -> list[str]:
    """The main run's settings (repeats, a shared machine), then its results' title."""
    lines = []
    slow = (
        "not run at all in this run (`--skip-slow`)"
        if main.get("skip_slow")
        else f"best of {main['slow_repeat']} (`--slow-repeat`, they take minutes)"
    )
    lines += [
        f"- Best of {main['repeat']} runs (`--repeat`), except `loaddata`: {slow}.",
        "- The machine is shared: the largest number of other active PostgreSQL sessions "
        "seen at the "
        "start of a measured command, and the 1-minute load average, are listed under each "
        "table.",
        "",
        f"## Results ({main['date']})",
    ]
    return lines


def scale_lines(scale: dict) -> list[str]:
    """One scale's section: the file sizes, the results table, and the targets of issue 14."""
    lines = []
    tools = scale["tools"]
    busy = max(t["busy"] for t in tools.values())
    load = max(t["load"] for t in tools.values())
    lines += [
        "",
        f"### Scale {scale['scale']}: {scale['rows']:,} rows",
        "",
        f"Files: `dumpdomain` {scale['file_sizes']['dumpdomain'] / 2**20:,.0f} MB, "
        f"`dumpdata` {scale['file_sizes']['dumpdata'] / 2**20:,.0f} MB, "
        f"`pg_dump -Fc` {scale['file_sizes']['pg_dump'] / 2**20:,.0f} MB. "
        f"Rows per table: " + ", ".join(f"{k} {v:,}" for k, v in scale["counts"].items()) + ".",
        "",
        *results_table(scale),
        *changed_lines(scale),
        *loaddata_attempt(scale),
        "",
        f"Other active sessions at the start of a run: at most {busy}; load average at "
        f"most {load:.2f}.",
        "",
        f"Targets at scale {scale['scale']} (issue 14):",
        "",
        "| what | target | measured | |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {mark(d)} |" for a, b, c, d in targets(scale)),
        *profile_lines(scale),
    ]
    return lines


def memory_growth_lines(scales: list[dict]) -> list[str]:
    """Peak memory from the first scale to the last (nothing with a single scale)."""
    lines = []
    if len(scales) >= 2:
        low, high = scales[0], scales[-1]
        factor = high["rows"] / low["rows"]
        lines += [
            "",
            f"### Peak memory: scale {low['scale']} → {high['scale']} ({factor:.1f}× the rows)",
            "",
            f"Target (issue 14): flat, every `dumpdomain` / `loaddomain` under "
            f"{MEMORY_LIMIT_MB} MB, 1,000,000 rows included; the growth is for reference.",
            "",
            "| tool | peak RSS at "
            + f"{low['rows']:,} rows | at {high['rows']:,} rows | growth | |",
            "|---|---:|---:|---:|---|",
        ]
        for key in FLAT_TOOLS + ["dumpdata", "loaddata"]:
            if key in low["tools"] and key in high["tools"]:
                a, b = low["tools"][key]["rss_kb"], high["tools"][key]["rss_kb"]
                label = next(f"{step}: {lbl}" for k, step, lbl in TOOLS if k == key)
                ok = mark(b < MEMORY_LIMIT_MB * 1024) if key in FLAT_TOOLS else "(reference)"
                lines.append(f"| {label} | {mb(a)} | {mb(b)} | {100 * (b / a - 1):+.0f}% | {ok} |")
    return lines


def million_lines(million: dict, main: dict | None) -> list[str]:
    """The 1,000,000-row check, and its peak memory against the main run's first scale."""
    lines = []
    t = million["tools"]
    lines += [
        "",
        f"## The 1,000,000-row check ({million['date']})",
        "",
        f"`seeddemo --scale {million['scale']}`: {million['rows']:,} rows (seeded in "
        f"{million['seed_seconds']:.0f} s); `dumpdomain` file "
        f"{million['file_sizes']['dumpdomain'] / 2**20:,.0f} MB. "
        "Each command once, on the same machine (`python bench/run.py --million`)."
        + (
            ""
            if million["machine"].get("layout")
            else " **Measured on the earlier layout** (`core_*` tables made by Django's "
            f"migrations, commit {million['machine']['commit']}) and not rerun on the "
            "Prisma-made tables: see the notes."
        ),
        "",
        "| command | wall time | rows/s | peak RSS | under 150 MB |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label in [
        ("dumpdomain", "`dumpdomain`"),
        ("loaddomain", "`loaddomain` into an empty database"),
        ("loaddomain_dry", "`loaddomain --dry-run` into an empty database"),
    ]:
        r = t[key]
        lines.append(
            f"| {label} | {seconds(r['wall'])} | {million['rows'] / r['wall']:,.0f} | "
            f"{mb(r['rss_kb'])} | {mark(r['rss_kb'] < MEMORY_LIMIT_MB * 1024)} |"
        )
    dry = t["loaddomain_dry"]["wall"] / t["loaddomain"]["wall"]
    lines += ["", f"Dry run / real import: {dry:.2f}× (target ≤ 1.1×: {mark(dry <= 1.1)})."]
    if main:
        low = main["scales"][0]
        lines += [
            "",
            f"Peak RSS from {low['rows']:,} rows (scale {low['scale']}) to "
            f"{million['rows']:,} rows "
            f"({million['rows'] / low['rows']:.1f}× the rows):",
            "",
        ]
        names = {"dumpdomain": "dumpdomain", "loaddomain": "loaddomain"}
        names["loaddomain_dry"] = "loaddomain --dry-run"
        for key, name in names.items():
            a, b = low["tools"][key]["rss_kb"], t[key]["rss_kb"]
            lines.append(f"- `{name}`: {mb(a)} → {mb(b)} ({100 * (b / a - 1):+.0f}%)")
    return lines


def rerun_lines(main: dict | None) -> list[str]:
    """The plot, and how to run the benchmark again (with the last run's duration)."""
    return [
        "",
        "## Plot",
        "",
        "![Throughput and peak RSS per tool and scale](benchmarks.png)",
        "",
        "## How to rerun",
        "",
        "```sh",
        "make bench                      # scale 100 (about 126k rows); SCALE from the environment",
        'make bench SCALE="100 400"      # the published figures'
        + (
            f" (the last run: {main['duration_seconds'] / 60:.0f} minutes on 2 cores)"
            if main and "duration_seconds" in main
            else " (about 40 minutes on 2 cores)"
        ),
        ".venv/bin/python bench/run.py --million   # seeddemo --scale 800: about 10 minutes",
        ".venv/bin/python bench/run.py --help      # --repeat, --slow-repeat, ...",
        "make bench BENCH_ARGS=--skip-slow        # without loaddata (minutes each)",
        'make bench-floors SCALE="100 400"       # only loaddomain and the floors (issue 25)',
        "make bench BENCH_ARGS=--profile          # py-spy of one loaddomain and one "
        "dumpdomain at the first scale",
        "```",
        "",
        "`--profile` records, outside the timed runs, one `loaddomain` into an empty database "
        "and one `dumpdomain` at the first scale with py-spy (`py-spy record --idle --format "
        "raw`, 100 samples a second; py-spy comes with `make bench`, from the `bench` "
        "dependency group): `bench/profiles/scale-N-COMMAND.md` says which functions the "
        "samples fall in (committed with the results), `bench/profiles/scale-N-COMMAND.txt` "
        "has the full stacks (not committed; open it in https://www.speedscope.app or give it "
        "to `flamegraph.pl`). py-spy starts the command itself and needs ptrace permission on "
        "it: root, or `kernel.yama.ptrace_scope` at most 1; it stops the run with its error "
        "otherwise.",
        "",
        "It needs a local PostgreSQL reachable as `postgres://postgres@127.0.0.1:5432/postgres` "
        "(`BENCH_DATABASE_URL` to change it; a superuser, for `pg_restore --disable-triggers`) and "
        "`pg_dump` / `pg_restore` on the PATH. It creates and drops its own databases, named "
        "`bench_mk_*` (`BENCH_DB_PREFIX` to change the prefix, to run beside another run), and "
        "touches no other. Never part of `make test`.",
        "",
    ]


# The phases of an import (datatransfer/phases.py: each its own time), in the order of the
# job, with what each covers; "outside" is the wall time minus the job's own.
PHASES = [
    ("outside", "start-up, rendering, exit (wall time − the job's)"),
    ("other", "the job's time in no phase below (file opened, connection, lock)"),
    ("head", "the file's head (metadata, schema compared)"),
    ("check", "check pass (a read of its own: --match natural only)"),
    ("parse", "read (each row read, parsed, checked against the manifest, on its way)"),
    ("stage", "stage (COPY into the staging table)"),
    ("type", "type (the server types the staged rows)"),
    ("classify", "classify (new, unchanged, changed, refused)"),
    ("write", "write (INSERT, UPDATE, link tables)"),
    ("outcomes", "outcomes (each row's outcome read back)"),
    ("walk", "walk (rows written in file order, in batches)"),
    ("load", "load, the rest (staging tables made and dropped)"),
    ("verdict", "the manifest's verdict (once every row is read)"),
    ("images", "images read of the rows about to change (undo journal, plan)"),
    ("links", "links written last (cycles, self-references)"),
    ("prune", "prune (rows the file lacks deleted)"),
    ("constraints", "constraints (sequences, foreign keys checked)"),
    ("journal", "undo journal written (each written row's digest read back)"),
    ("commit", "commit (or a dry run's rollback)"),
    ("media", "an archive's files"),
]
# loaddomain's case: (label, the floor it is compared with, the target of issue 25)
FLOOR_CASES = [
    ("loaddomain", "import into an empty database", "bulk_insert", 1.5),
    ("loaddomain_again", "re-import of the unchanged file", "comparison", 3),
    ("loaddomain_again_dry", "dry run of the unchanged file", "comparison", 3),
    ("loaddomain_dry", "dry run into an empty database", "bulk_insert", None),
]
FLOOR_NAMES = {
    "bulk_insert": "checked bulk insert",
    "comparison": "server comparison",
}


def floor_ratio_lines(scale: dict) -> list[str]:
    """loaddomain's cases against their floor: the ratio and issue 25's target."""
    tools, found = scale["tools"], scale["floors"]
    lines = [
        "| case | `loaddomain` | floor | floor's time | ratio | target (issue 25) |",
        "|---|---:|---|---:|---:|---|",
    ]
    for key, label, floor, limit in FLOOR_CASES:
        if key not in tools:
            lines.append(f"| {label} | not run | {FLOOR_NAMES[floor]} | | | |")
            continue
        wall, reference = tools[key]["wall"], found[floor]["wall"]
        target = "—" if limit is None else f"≤ {limit:g}× {mark(wall / reference <= limit)}"
        lines.append(
            f"| {label} | {seconds(wall)} | {FLOOR_NAMES[floor]} | {seconds(reference)} | "
            f"{wall / reference:.1f}× | {target} |"
        )
    return lines


def floor_part_lines(found: dict) -> list[str]:
    """What each floor's time is made of, the parse, and a command's start-up."""

    def parts(result: dict) -> str:
        return ", ".join(f"{name} {seconds(value)}" for name, value in result["parts"].items())

    parse = found["parse"]
    return [
        f"- checked bulk insert: {seconds(found['bulk_insert']['wall'])} (best of "
        f"{found['bulk_insert']['runs']}: {parts(found['bulk_insert'])}); links set after "
        f"every table: {', '.join(found['later_links']) or 'none'}",
        f"- server comparison: {seconds(found['comparison']['wall'])} (best of "
        f"{found['comparison']['runs']}: {parts(found['comparison'])})",
        f"- parse: the {parse['bytes'] / 2**20:,.0f} MB export read and parsed whole by orjson "
        f"in {seconds(parse['wall'])} ({parts(parse)}; SHA-256 not in the parse's time)",
        f"- start-up: `loaddomain --help` {seconds(found['startup_help']['wall'])}, `check` "
        f"{seconds(found['startup_check']['wall'])} (best of {found['startup_help']['runs']})",
    ]


def phase_table(scale: dict) -> list[str]:
    """Where each loaddomain case's time went (the best run's --report phaseSeconds)."""
    cases = [(k, label) for k, label, _, _ in FLOOR_CASES]
    cases.append(("loaddomain_changed", f"1 in {CHANGE_EVERY} changed"))
    cases = [(key, label) for key, label in cases if key in scale["tools"]]
    runs = {}
    for key, _ in cases:
        run = scale["tools"][key]
        outside = run["wall"] - (run.get("job_seconds") or run["wall"])
        runs[key] = {"wall": run["wall"], "phases": {"outside": outside, **run.get("phases", {})}}
    names = list(PHASES)
    names += [(n, n) for r in runs.values() for n in r["phases"] if n not in dict(PHASES)]
    lines = [
        "| phase | " + " | ".join(label for _, label in cases) + " |",
        "|---|" + "---:|" * len(cases),
    ]
    for name, label in dict(names).items():
        if any(name in run["phases"] for run in runs.values()):
            values = [run["phases"].get(name) for run in runs.values()]
            cells = ["" if v is None else seconds(v) for v in values]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| **wall time** | " + " | ".join(f"**{seconds(r['wall'])}**" for r in runs.values()) + " |"
    )
    return lines


def floor_lines(run: dict) -> list[str]:
    """The floors and the phase tables of every scale of `run` that measured them."""
    lines = []
    for scale in run.get("scales", []):
        if not scale.get("floors"):
            continue
        lines += [
            "",
            f"### Scale {scale['scale']}: {scale['rows']:,} rows ({run['date']}, commit "
            f"{run['machine']['commit']})",
            "",
            *floor_ratio_lines(scale),
            "",
            *floor_part_lines(scale["floors"]),
            "",
            "Where `loaddomain`'s time goes, per phase (each phase's own time, from the best "
            "run's `--report`; they add up to the wall time):",
            "",
            *phase_table(scale),
        ]
    return lines


def floors_section(saved: dict) -> list[str]:
    """Issue 25's floors: the latest run that measured them, else what will be measured."""
    runs = [
        saved[k]
        for k in ("main", "floors")
        if saved.get(k) and any(s.get("floors") for s in saved[k].get("scales", []))
    ]
    latest = max(runs, key=lambda r: r["date"]) if runs else None
    lines = [
        "",
        "## Floors: `loaddomain` against the job done in SQL (issue 25)",
        "",
        "`pg_restore` parses nothing and checks no foreign key; the import does both. So the "
        "same run also measures, from the same export file (made into one CSV file per table "
        "by `bench/floor_data.py`, from the models: `datatransfer.registry`, outside the "
        "timing) and on the same server, what the job itself costs when done by hand in SQL "
        "(`bench/floors.py`):",
        "",
        "- **checked bulk insert**, the floor of the import: `COPY` of each CSV file into an "
        "unconstrained temporary staging table, then `INSERT ... SELECT` table by table in "
        "dependency order into a fresh copy of the empty Prisma-made database, every foreign "
        "key checked by its own constraints; the links of a cycle (`Organization.ownerId`) set "
        "by one `UPDATE` after every table; the link table's rows find the related id by its "
        "key; all in one transaction, committed;",
        "- **server comparison**, the floor of a re-import and of a dry run of an unchanged "
        "file: the same staging, then one `LEFT JOIN` per table (by primary key) counting the "
        "rows the target lacks and those `IS DISTINCT FROM` the target's (every count must be "
        "0), then rolled back;",
        "- **parse**: the export read and parsed whole by orjson; its SHA-256 apart;",
        "- **start-up**: `manage.py loaddomain --help` and `manage.py check`.",
        "",
        "Targets (issue 25): the import at most 1.5× the checked bulk insert; the re-import and "
        "the dry run of an unchanged file at most 3× the server comparison. Each `loaddomain` "
        "run keeps its phases (`--report`'s `phaseSeconds`, `datatransfer/phases.py`), shown "
        "below so that every figure can be traced.",
    ]
    if latest is None:
        return lines + [
            "",
            "**Not measured yet**: the figures are to be taken on a quiet machine, with "
            '`make bench SCALE="100 400"` (every case, the floors included) or `make '
            'bench-floors SCALE="100 400"` (only `loaddomain` and the floors, saved apart in '
            "`bench/results.json`); this section is then rendered from them.",
        ]
    return lines + floor_lines(latest)


def plot_groups(main: dict | None, million: dict | None) -> list[tuple[str, dict]]:
    """(legend label, results) of each bar group of the plot: every scale, then the
    1,000,000-row check."""
    groups = [
        (f"scale {s['scale']} ({s['rows'] / 1000:,.0f}k rows)", s)
        for s in (main or {}).get("scales", [])
    ]
    if million:
        groups.append(
            (
                f"scale {million['scale']} ({million['rows'] / 1e6:.2f}M rows, 1 run"
                + ("" if million["machine"].get("layout") else "; earlier core_* tables")
                + ")",
                million,
            )
        )
    return groups


def draw(main: dict | None, million: dict | None, path: Path) -> None:
    """docs/benchmarks.png: throughput and peak RSS of every tool, one bar per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = plot_groups(main, million)
    keys = [key for key, _, _ in TOOLS if any(key in g["tools"] for _, g in groups)]
    fig, axes = plt.subplots(2, 1, figsize=(13, 9), constrained_layout=True)
    width = 0.8 / max(len(groups), 1)
    for axis, title, value, log in [
        (
            axes[0],
            "Throughput (rows/s, log scale; higher is better)",
            lambda g, t: g["rows"] / t["wall"],
            True,
        ),
        (
            axes[1],
            "Peak RSS of the client process (MB; lower is better)",
            lambda g, t: t["rss_kb"] / 1024,
            False,
        ),
    ]:
        for n, (label, g) in enumerate(groups):
            xs = [
                i + (n - (len(groups) - 1) / 2) * width
                for i, key in enumerate(keys)
                if key in g["tools"]
            ]
            ys = [value(g, g["tools"][key]) for key in keys if key in g["tools"]]
            bars = axis.bar(xs, ys, width, label=label)
            axis.bar_label(
                bars, labels=[f"{y:,.0f}" for y in ys], fontsize=7, rotation=90, padding=2
            )
        axis.set_xticks(
            range(len(keys)), [SHORT[k] + (" *" if k in SLOW else "") for k in keys], fontsize=8
        )
        axis.set_title(title)
        if log:
            axis.set_yscale("log")
        axis.margins(y=0.25)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(
        "dumpdomain/loaddomain vs dumpdata/loaddata vs pg_dump/pg_restore (PostgreSQL, "
        "* = best of fewer runs)"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
