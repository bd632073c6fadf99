"""Issue 23, ask before writing: a real loaddomain shows the target, the file and its rows
per table, then asks, on a terminal; off one it refuses unless --no-input; a dry run never
asks. Through call_command, standard input replaced (tests/e2e/datatransfer/
test_confirmation.py drives the real process in a pseudo-terminal)."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from datatransfer.management.rendering import database_named
from datatransfer.routers import domain_database
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db(databases="__all__")


class Terminal(io.StringIO):
    """Standard input as a terminal where the person types the text given; `seen` records
    whether the target was inside a transaction while the question waited."""

    target = None
    in_transaction = None

    def isatty(self):
        return True

    def readline(self, *args):
        Terminal.in_transaction = connections[self.target].in_atomic_block
        return super().readline(*args)


@pytest.fixture
def export(make_database, tmp_path, node_file):
    """A format 2.0 export (with its manifest) of the Node.js tool's data, made on this run's
    vendor, and an empty target database of the same vendor: (file, target alias)."""
    vendor = connections[domain_database()].vendor
    source = make_database(vendor)
    call_command("loaddomain", node_file, database=source, interactive=False, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), database=source, stdout=io.StringIO())
    return str(path), make_database(vendor)


def load(*args, stdin=None, **options):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("loaddomain", *args, stdout=out, stderr=err, stdin=stdin, **options)
    except CommandError as error:
        return error.returncode, str(error), out.getvalue(), err.getvalue()
    return 0, "", out.getvalue(), err.getvalue()


def answer(monkeypatch, typed: str, target: str) -> None:
    terminal = Terminal(typed)
    terminal.target = target
    monkeypatch.setattr("sys.stdin", terminal)


def manifest_rows(path) -> dict:
    tables = json.loads(open(path, encoding="utf-8").read())["metadata"]["manifest"]["tables"]
    return {key: entry["rows"] for key, entry in tables.items()}


def test_off_a_terminal_it_refuses_in_one_line_with_status_2_and_writes_nothing(export):
    path, target = export
    status, message, out, _ = load(path, "--database", target)
    assert status == 2
    assert message == (
        f"loaddomain writes into {database_named(target)}: standard input is not a terminal, "
        "so it cannot ask; add --no-input to write without asking. Nothing was written."
    )
    assert out == ""  # refused before the first line
    assert not any(database_snapshot(target).values())


@pytest.mark.parametrize("no_input", [("--no-input",), ("--noinput",)])
def test_no_input_writes_without_asking(export, no_input):
    path, target = export
    status, _, out, err = load(path, "--database", target, *no_input)
    assert status == 0, err
    assert "Loaded" in out and "Type 'yes'" not in out + err
    assert sum(len(rows) for rows in database_snapshot(target).values()) == sum(
        manifest_rows(path).values()
    )


def test_call_command_takes_interactive_false(export):
    path, target = export
    status, _, _, err = load(path, database=target, interactive=False)
    assert status == 0, err
    assert any(database_snapshot(target).values())


def test_a_dry_run_never_asks(export, monkeypatch):
    path, target = export
    answer(monkeypatch, "", target)  # a question would read the end of input: cancelled
    status, _, out, err = load(path, "--database", target, "--dry-run")
    assert status == 0, err
    assert "Type 'yes'" not in out + err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # nor off a terminal
    assert load(path, "--database", target, "--dry-run")[0] == 0


def test_on_a_terminal_it_shows_target_file_and_counts_then_no_writes_nothing(export, monkeypatch):
    path, target = export
    answer(monkeypatch, "no\n", target)
    status, message, out, err = load(path, "--database", target, "--skip-audit")
    assert (status, message) == (2, "Import cancelled: nothing was written.")
    assert f"loaddomain will write into {database_named(target)}" in err
    assert f"from {path} (" in err
    counts = manifest_rows(path)
    for key, rows in counts.items():
        if key != "auditLogs":
            assert re.search(rf"^{key}\s+{rows:,}$", err, re.M), (key, err)
    total = sum(counts.values()) - counts["auditLogs"]
    assert re.search(rf"^total\s+{total:,}$", err, re.M)
    assert "left out, not loaded and not counted above: auditLogs (--skip-audit)" in err
    assert (
        "checked against these counts as it loads: if it does not match them, nothing is written"
        in err
    )
    assert err.endswith("Type 'yes' to continue, or 'no' to cancel: ")
    assert out == ""
    assert not any(database_snapshot(target).values())
    assert Terminal.in_transaction is False  # nothing locked while the question waits


def test_on_a_terminal_yes_writes(export, monkeypatch):
    path, target = export
    answer(monkeypatch, "yes\n", target)
    status, _, out, err = load(path, "--database", target)
    assert status == 0, err
    assert out.startswith(f"Loading {path} into {database_named(target)}...")
    assert any(database_snapshot(target).values())
    assert Terminal.in_transaction is False


def test_a_file_without_counts_says_so(node_file, make_database, monkeypatch):
    target = make_database("sqlite")
    answer(monkeypatch, "no\n", target)
    status, _, _, err = load(node_file, "--database", target)
    assert status == 2
    assert "The file lists no row counts (format 1.0)" in err


def test_standard_input_as_the_file_needs_no_input(export, monkeypatch):
    path, target = export
    data = open(path, "rb").read()
    answer(monkeypatch, "yes\n", target)  # even on a terminal: the file is standard input
    status, message, _, _ = load("-", "--database", target, stdin=io.BytesIO(data))
    assert status == 2
    assert message == (
        f"loaddomain writes into {database_named(target)}: standard input is the export file, "
        "so it cannot ask; add --no-input to write without asking. Nothing was written."
    )
    assert not any(database_snapshot(target).values())
    status, _, _, err = load("-", "--database", target, "--no-input", stdin=io.BytesIO(data))
    assert status == 0, err
    assert any(database_snapshot(target).values())


def test_with_prune_the_question_says_rows_will_be_deleted(export, monkeypatch):
    path, target = export
    answer(monkeypatch, "no\n", target)
    status, _, _, err = load(path, "--database", target, "--prune")
    assert status == 2
    assert "the file does not hold will be deleted" in err
    answer(monkeypatch, "no\n", target)
    assert "deleted" not in load(path, "--database", target)[3]
