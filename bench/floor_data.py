"""The floors' data (issue 25): the export file loaddomain reads, as one CSV file per table,
and the plan of the floors, from the models' metadata (datatransfer.registry).

    DJANGO_SETTINGS_MODULE=config.settings python bench/floor_data.py EXPORT_FILE OUT_DIR

Writes OUT_DIR/plan.json and the CSV files it names. The plan lists, in dependency order,
each table of the file (its columns, its primary key, and the links written after every
table: a cycle's, such as Organization.ownerId; a link to the same table is checked at the
end of its own INSERT and needs no such wait), then after each table its many-to-many
link tables, which travel in the file as the related rows' keys: their CSV holds the owner
and the key, and the floor joins the related table to find its id. Each row is decoded by
the project's codec (what loaddomain would write), then spelled as PostgreSQL reads it in
CSV: NULL unquoted and empty, every other value quoted.
"""

import json
import os
import sys
from pathlib import Path

import django

NULL = ""


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def spelled(field, value) -> str:
    """`value` (a model value of `field`) as one CSV field that PostgreSQL reads back."""
    from django.db import models

    if value is None:
        return NULL
    if isinstance(field, models.JSONField):
        return quoted(json.dumps(value, ensure_ascii=False))
    if isinstance(value, bool):
        return "t" if value else "f"
    if hasattr(value, "isoformat"):
        return quoted(value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat())
    return quoted(str(value))


def table_plan(table, number: int) -> list[dict]:
    """The plan's entries of `table`: the table, then its link tables."""
    meta = table.model._meta
    entries = [
        {
            "key": table.key,
            "table": meta.db_table,
            "pk": table.pk.field.column,
            "columns": [spec.field.column for spec in table.fields],
            "later": [
                spec.field.column
                for spec in table.deferred
                if spec.field.related_model is not table.model
            ],
            "csv": f"{number:02d}-{meta.db_table}.csv",
            "rows": 0,
        }
    ]
    for spec in table.many_to_many:
        related = spec.related_model._meta
        entries.append(
            {
                "key": f"{table.key}.{spec.key}",
                "link": True,
                "table": spec.through._meta.db_table,
                "owner": spec.field.m2m_column_name(),
                "target": spec.field.m2m_reverse_name(),
                "related": related.db_table,
                "related_key": related.get_field(spec.natural_field).column
                if spec.natural_field
                else related.pk.column,
                "related_pk": related.pk.column,
                "csv": f"{number:02d}-{spec.through._meta.db_table}.csv",
                "rows": 0,
            }
        )
    return entries


def write_table(table, rows, entries: list[dict], out: Path) -> None:
    """The CSV files of `table` (and its link tables) from the file's `rows`."""
    from datatransfer.formats.rows import decode_row

    fields = [(spec.attname, spec.field) for spec in table.fields]
    links = [(spec.key, entry) for spec, entry in zip(table.many_to_many, entries[1:], strict=True)]
    with (out / entries[0]["csv"]).open("w", encoding="utf-8") as main:
        link_files = {key: (out / entry["csv"]).open("w", encoding="utf-8") for key, entry in links}
        try:
            for raw in rows:
                row = decode_row(table, raw)
                values = [
                    spelled(f, row.values[a] if a in row.values else f.get_default())
                    for a, f in fields
                ]
                main.write(",".join(values) + "\n")
                entries[0]["rows"] += 1
                owner = quoted(str(row.pk))
                for key, entry in links:
                    for target in row.many_to_many.get(key, ()):
                        link_files[key].write(f"{owner},{quoted(str(target))}\n")
                        entry["rows"] += 1
        finally:
            for file in link_files.values():
                file.close()


def main(path: str, out: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from datatransfer.formats import open_reader
    from datatransfer.registry import domain_tables

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = domain_tables()
    plans = {table.key: table_plan(table, n) for n, table in enumerate(tables, start=1)}
    by_key = {table.key: table for table in tables}
    for entries in plans.values():  # a table the file does not hold: an empty CSV
        for entry in entries:
            (out_dir / entry["csv"]).touch()
    with open_reader(path) as reader:
        for key, rows in reader.tables():
            write_table(by_key[key], rows, plans[key], out_dir)
    plan = [entry for table in tables for entry in plans[table.key]]
    (out_dir / "plan.json").write_text(json.dumps(plan, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(*sys.argv[1:])
