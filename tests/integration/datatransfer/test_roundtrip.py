"""The promise of the tool: a data set goes SQLite -> PostgreSQL -> SQLite with every field
of every row equal, and files of the same data are the same bytes."""

import io
import json

import pytest
from django.core.management import call_command

from tests.snapshots import database_snapshot


def dump(alias, path):
    call_command(
        "dumpdomain", str(path), "--database", alias, "--indent", "0", stdout=io.StringIO()
    )
    return json.loads(path.read_text(encoding="utf-8"))


def load(alias, path):
    out = io.StringIO()
    call_command("loaddomain", "--no-input", str(path), "--database", alias, stdout=out)
    return out.getvalue()


def test_seeddemo_data_survives_sqlite_to_postgresql_to_sqlite(make_database, tmp_path):
    source, middle, back = (
        make_database("sqlite"),
        make_database("postgresql"),
        make_database("sqlite"),
    )
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    first = dump(source, tmp_path / "first.json")
    load(middle, tmp_path / "first.json")
    second = dump(middle, tmp_path / "second.json")
    load(back, tmp_path / "second.json")
    original = database_snapshot(source)
    assert all(original[label] for label in original), "seeddemo fills every table"
    assert database_snapshot(middle) == original
    assert database_snapshot(back) == original
    assert first["data"] == second["data"]


def test_a_second_load_of_the_same_file_changes_nothing(make_database, tmp_path):
    source, target = make_database("sqlite"), make_database("sqlite")
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    dump(source, tmp_path / "demo.json")
    load(target, tmp_path / "demo.json")
    out = load(target, tmp_path / "demo.json")
    total = [line for line in out.splitlines() if line.startswith("total")][0].split()
    # created, appended, updated: none; unchanged: all; skipped, failed: none
    assert total[1:4] == ["0", "0", "0"] and total[5:] == ["0", "0"]
    assert int(total[4].replace(",", "")) > 900


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_dry_run_into_an_empty_database_writes_nothing(make_database, tmp_path, vendor):
    source, target = make_database("sqlite"), make_database(vendor)
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    dump(source, tmp_path / "demo.json")
    out = io.StringIO()
    call_command(
        "loaddomain", str(tmp_path / "demo.json"), "--database", target, "--dry-run", stdout=out
    )
    assert "DRY RUN" in out.getvalue()
    assert not any(database_snapshot(target).values())
