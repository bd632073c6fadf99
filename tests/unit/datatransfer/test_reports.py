"""The import report as data and as text: a row written without a link keeps its outcome
and is counted apart; issues are grouped by their root, which comes first whatever the cut;
the report file keeps every key it had."""

import re

from datatransfer.exceptions import EXIT_CONFLICTS, EXIT_ROWS_FAILED, Code
from datatransfer.management.rendering import import_verdict, render_import, render_issues
from datatransfer.reports import ImportReport, Outcome, Reason

ROOT = ("users", "dev-1")


def conflicted() -> ImportReport:
    """25 failed rows of their own, then a user skipped on its email, 3 rows skipped
    because of it, and an organization written without it as owner."""
    report = ImportReport(file="x.json", database="prod")
    for n in range(25):
        report.record("configurations", Outcome.FAILED, f"c{n}", f"key {n}: too long")
    report.record("organizations", Outcome.CREATED, "org-1")
    email = "email 'a@b'"
    report.record(
        "users",
        Outcome.SKIPPED,
        "dev-1",
        Reason(
            f"{email} already belongs to users 'prod-1'",
            code=Code.NATURAL_KEY_HELD,
            holder="prod-1",
            key=email,
        ),
    )
    for n, table in enumerate(["payments", "payments", "documentPartages"]):
        report.record(table, Outcome.SKIPPED, f"d{n}", Reason("userId 'dev-1': ...", cause=ROOT))
    report.record_unlinked(
        "organizations", "org-1", Reason("ownerId 'dev-1': users 'dev-1' was skipped", cause=ROOT)
    )
    return report


def test_a_row_written_without_its_link_keeps_its_outcome_and_is_counted_apart():
    report = conflicted()
    document = report.as_dict()
    assert document["tables"]["organizations"] == {
        "created": 1,
        "appended": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "unlinked": 1,
    }
    assert document["totals"]["failed"] == 25 and document["totals"]["unlinked"] == 1
    assert set(document) >= {"dryRun", "file", "database", "tables", "totals", "errors", "notes"}
    unlinked = document["errors"][-1]
    assert unlinked["kind"] == "unlinked" and unlinked["cause"] == {"table": "users", "id": "dev-1"}
    root = next(e for e in document["errors"] if e["table"] == "users")
    assert "cause" not in root and root["naturalMatch"] == {"table": "users", "id": "prod-1"}
    assert set(document["errors"][0]) == {"table", "id", "kind", "message"}  # as it always was
    assert re.search(r"^organizations\s+1\s+0\s+0\s+0\s+0\s+0\s+1$", render_import(report), re.M)


def test_the_root_comes_first_whatever_the_cut_with_its_dependants_per_table():
    lines = render_issues(conflicted(), limit=20).splitlines()
    assert lines[:6] == [
        "conflict: users dev-1: email 'a@b' already belongs to users 'prod-1'",
        "  because of it: 3 rows skipped, 1 written without its link",
        "    payments: 2 skipped",
        "    documentPartages: 1 skipped",
        "    organizations: 1 written without its link",
        "  hint: users 'dev-1' and the target's users 'prod-1' share the natural key email "
        "'a@b': --match natural would update that row and link the file's rows to it.",
    ]
    assert lines[6] == "error: configurations c0: key 0: too long"  # then, the cut of 20
    assert lines[-1] == "... and 9 more (all of them with -v 2 or --report FILE)."


def test_a_row_without_its_link_exits_1_and_conflicts_alone_3():
    report = ImportReport(file="x.json", database="prod")
    report.record("users", Outcome.SKIPPED, "u1", "email 'a@b' already belongs to users 'p'")
    assert import_verdict(report)[1] == EXIT_CONFLICTS
    report.record("organizations", Outcome.CREATED, "o1")
    report.record_unlinked("organizations", "o1", "ownerId 'u1': users 'u1' was skipped")
    message, status = import_verdict(report)
    assert status == EXIT_ROWS_FAILED
    assert message == (
        "1 row(s) written without a link (listed above); the other rows were loaded."
    )
