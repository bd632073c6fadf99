"""The floors of issue 25: what the import's job costs when done in SQL by hand, from the
same export file (bench/floor_data.py made its CSV files and plan), on the same server.

- checked bulk insert: COPY every table's CSV into an unconstrained temporary staging table,
  then INSERT ... SELECT table by table in dependency order into an empty Prisma-made
  database, every foreign key checked by the target's own constraints; the links written
  after every table (a cycle's: Organization.ownerId) set by one UPDATE each; then COMMIT.
  A link table's rows find the related row's id by its key (a join), as the file names it.
- server comparison of an unchanged file: the same staging, then one LEFT JOIN per table
  counting the rows the target lacks and those IS DISTINCT FROM the target's; rolled back.
- parse: the export read and parsed whole by orjson; its SHA-256.

Each returns its wall time and its parts, in seconds (time.monotonic), taken in this
process around the statements (the connection is made before the clock starts).
"""

import hashlib
import time
from pathlib import Path

import psycopg


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def staging_name(number: int) -> str:
    return f"floor_stage_{number}"


def stage(cursor, plan: list[dict], csv_dir: Path) -> None:
    """One unconstrained temporary table per plan entry, filled by COPY from its CSV."""
    for number, entry in enumerate(plan):
        name = staging_name(number)
        if entry.get("link"):
            cursor.execute(
                f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT "
                f"{ident(entry['owner'])} AS owner, ''::text AS key "
                f"FROM {ident(entry['table'])} WITH NO DATA"
            )
        else:
            cursor.execute(
                f"CREATE TEMP TABLE {name} (LIKE {ident(entry['table'])}) ON COMMIT DROP"
            )
        columns = "owner, key" if entry.get("link") else ", ".join(map(ident, entry["columns"]))
        with (
            cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)") as copy,
            (csv_dir / entry["csv"]).open("rb") as data,
        ):
            while chunk := data.read(1 << 20):
                copy.write(chunk)


def related_rows(entry: dict, stage_name: str) -> str:
    """A link table's staged rows with the related row's id (NULL: an unknown key, which
    the target's NOT NULL refuses)."""
    return (
        f"FROM {stage_name} AS s LEFT JOIN {ident(entry['related'])} AS r "
        f"ON r.{ident(entry['related_key'])}::text = s.key"
    )


def insert(cursor, plan: list[dict]) -> None:
    """INSERT ... SELECT table by table, in dependency order; links written later NULL."""
    for number, entry in enumerate(plan):
        name, target = staging_name(number), ident(entry["table"])
        if entry.get("link"):
            cursor.execute(
                f"INSERT INTO {target} ({ident(entry['owner'])}, {ident(entry['target'])}) "
                f"SELECT s.owner, r.{ident(entry['related_pk'])} {related_rows(entry, name)}"
            )
            continue
        values = [
            "NULL" if column in entry["later"] else ident(column) for column in entry["columns"]
        ]
        columns = ", ".join(map(ident, entry["columns"]))
        cursor.execute(f"INSERT INTO {target} ({columns}) SELECT {', '.join(values)} FROM {name}")


def set_later_links(cursor, plan: list[dict]) -> None:
    """The links written after every table (a cycle's), one UPDATE per column."""
    for number, entry in enumerate(plan):
        for column in entry.get("later", ()):
            c, pk = ident(column), ident(entry["pk"])
            cursor.execute(
                f"UPDATE {ident(entry['table'])} AS t SET {c} = s.{c} "
                f"FROM {staging_name(number)} AS s WHERE t.{pk} = s.{pk} AND s.{c} IS NOT NULL"
            )


def compare(cursor, plan: list[dict]) -> dict:
    """{table: [rows the target lacks, rows that differ]}: one LEFT JOIN per table."""
    counts = {}
    for number, entry in enumerate(plan):
        name = staging_name(number)
        if entry.get("link"):
            owner, target = ident(entry["owner"]), ident(entry["target"])
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE l.{owner} IS NULL), 0 "
                f"{related_rows(entry, name)} LEFT JOIN {ident(entry['table'])} AS l "
                f"ON l.{owner} = s.owner AND l.{target} = r.{ident(entry['related_pk'])}"
            )
        else:
            pk = ident(entry["pk"])
            staged = ", ".join(f"s.{ident(c)}" for c in entry["columns"])
            held = ", ".join(f"t.{ident(c)}" for c in entry["columns"])
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE t.{pk} IS NULL), count(*) FILTER (WHERE "
                f"t.{pk} IS NOT NULL AND ROW({staged}) IS DISTINCT FROM ROW({held})) "
                f"FROM {name} AS s LEFT JOIN {ident(entry['table'])} AS t ON t.{pk} = s.{pk}"
            )
        counts[entry["table"]] = list(cursor.fetchone())
    return counts


def checked_bulk_insert(url: str, plan: list[dict], csv_dir: Path) -> dict:
    """The import's floor, into the empty database at `url`: {wall, parts}."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        clock = [time.monotonic()]

        def lap() -> float:
            clock.append(time.monotonic())
            return clock[-1] - clock[-2]

        stage(cursor, plan, csv_dir)
        parts = {"stage": lap()}
        insert(cursor, plan)
        parts["insert"] = lap()
        set_later_links(cursor, plan)
        parts["links"] = lap()
        conn.commit()
        parts["commit"] = lap()
    return {"wall": clock[-1] - clock[0], "parts": parts}


def server_comparison(url: str, plan: list[dict], csv_dir: Path) -> dict:
    """The floor of a re-import (and of its dry run) of an unchanged file, against the
    database at `url` that holds it: {wall, parts, counts}; nothing is written."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        started = time.monotonic()
        stage(cursor, plan, csv_dir)
        staged = time.monotonic()
        counts = compare(cursor, plan)
        compared = time.monotonic()
        conn.rollback()
        ended = time.monotonic()
    parts = {"stage": staged - started, "compare": compared - staged, "rollback": ended - compared}
    return {"wall": ended - started, "parts": parts, "counts": counts}


def parse_floor(path: Path) -> dict:
    """The export read whole, parsed by orjson, and its SHA-256: {wall, parts}."""
    import orjson

    started = time.monotonic()
    data = path.read_bytes()
    read = time.monotonic()
    orjson.loads(data)
    parsed = time.monotonic()
    hashlib.sha256(data).digest()
    hashed = time.monotonic()
    parts = {"read": read - started, "parse": parsed - read, "sha256": hashed - parsed}
    return {"wall": parsed - started, "parts": parts, "bytes": len(data)}


def best(runs: list[dict]) -> dict:
    """The fastest of `runs` (by wall time), with every run's wall time."""
    fastest = min(runs, key=lambda run: run["wall"])
    return {**fastest, "walls": [run["wall"] for run in runs], "runs": len(runs)}
