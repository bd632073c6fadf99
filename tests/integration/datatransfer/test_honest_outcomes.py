"""Honest outcomes (issue 23): a row written without a link it could not set is not
`failed` but flagged `unlinked` (the table, the report file, exit 1); conflicts are shown
grouped by their root, first whatever the cut, with their dependants counted per table and
what `--match natural` would do where the natural key matches the target's row."""

import datetime as dt
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from core.models import Organization, User
from tests.engine_names import WRITER_NAMES
from tests.integration.datatransfer.test_engines import demo_file, run_both  # noqa: F401 (a fixture)

FIXED = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
PROD_USER = "cproduser0000000000000001"


def owner_of_first_organization(path):
    """(the first organization's row, its owner's row) in the file at `path`."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    organization = data["organizations"][0]
    owner = next(user for user in data["users"] if user["id"] == organization["ownerId"])
    return organization, owner


def hold_email(alias, email):
    """The target holds a user of `email` under an id of its own (bulk_create: its
    updatedAt stays FIXED, so that the writers' databases compare equal)."""
    User.objects.using(alias).bulk_create(
        [User(id=PROD_USER, email=email, password_hash="prod", created_at=FIXED, updated_at=FIXED)]
    )


def loaddomain(*args):
    """Run loaddomain; return (exit status, stdout, the closing error line or '')."""
    out = io.StringIO()
    try:
        call_command("loaddomain", *args, stdout=out, stderr=io.StringIO(), interactive=False)
    except CommandError as error:
        return error.returncode, out.getvalue(), str(error)
    return 0, out.getvalue(), ""


@pytest.fixture
def databases(make_database):
    from django.db import connections

    make_database.vendor = connections["platform"].vendor
    return make_database


def test_the_writers_agree_that_the_organization_is_written_without_its_owner(
    databases,
    demo_file,  # noqa: F811
):
    """On every backend as in the oracle: the organization whose owner was skipped is
    created (not failed), flagged unlinked, and every refused row names the same root."""
    organization, owner = owner_of_first_organization(demo_file)
    [report] = run_both(databases, demo_file, prepare=lambda a: hold_email(a, owner["email"]))
    counts = report["tables"]["organizations"]
    assert (counts["failed"], counts["unlinked"]) == (0, 1), counts
    assert counts["created"] == len(json.loads(demo_file.read_text())["data"]["organizations"])
    assert report["totals"]["failed"] == 0 and report["totals"]["unlinked"] == 1
    [unlinked] = [e for e in report["errors"] if e["kind"] == "unlinked"]
    assert unlinked["table"] == "organizations" and unlinked["id"] == organization["id"]
    assert unlinked["cause"] == {"table": "users", "id": owner["id"]}
    assert "ownerId" in unlinked["message"] and "left empty" in unlinked["message"]
    root = {"table": "users", "id": owner["id"]}
    [first, *dependants] = report["errors"]
    assert (first["table"], first["id"], first["kind"]) == ("users", owner["id"], "conflict")
    assert "cause" not in first
    assert first["naturalMatch"] == {"table": "users", "id": PROD_USER}
    assert len(dependants) > 100 and all(e["cause"] == root for e in dependants)


@pytest.mark.django_db
@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_an_organization_written_without_its_owner_is_reported_written(
    demo_file,  # noqa: F811
    tmp_path,
    written_by,
):
    organization, owner = owner_of_first_organization(demo_file)
    hold_email("platform", owner["email"])
    report_path = tmp_path / "report.json"
    status, out, error = loaddomain(str(demo_file), "--report", str(report_path))
    written = Organization.objects.get(pk=organization["id"])
    assert written.owner_id is None  # written, without the owner the file gives it
    assert status == 1  # a row that differs from the file
    assert error.startswith("1 row(s) written without a link")
    assert re.search(
        r"^table\s+created\s+appended\s+updated\s+unchanged\s+skipped\s+failed\s+unlinked$",
        out,
        re.M,
    )
    assert re.search(r"^organizations\s+10\s+0\s+0\s+0\s+0\s+0\s+1$", out, re.M)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["tables"]["organizations"]["failed"] == 0
    assert report["tables"]["organizations"]["created"] == 10
    assert report["tables"]["organizations"]["unlinked"] == 1
    assert report["totals"]["failed"] == 0 and report["totals"]["unlinked"] == 1
    assert [e["id"] for e in report["errors"] if e["kind"] == "unlinked"] == [organization["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_the_root_conflict_comes_first_with_its_dependants_counted_per_table(
    demo_file,  # noqa: F811
    written_by,
):
    organization, owner = owner_of_first_organization(demo_file)
    hold_email("platform", owner["email"])
    status, out, _ = loaddomain(str(demo_file), "--dry-run")
    lines = out.splitlines()
    issues = lines[next(i for i, line in enumerate(lines) if line.startswith("DRY RUN")) + 1 :]
    assert issues[0] == (
        f"conflict: users {owner['id']}: email '{owner['email']}' already belongs to users "
        f"'{PROD_USER}'"
    )
    # Every row refused because of it, then the organization written without its owner.
    assert re.match(r"  because of it: 301 rows skipped, 1 written without its link$", issues[1])
    per_table = {}
    for line in issues[2:]:
        if found := re.match(r"    (\w+): (.+)$", line):
            per_table[found[1]] = found[2]
    assert per_table["blockchainBlocks"] == "149 skipped"
    assert per_table["documentPartages"] == "41 skipped"
    assert per_table["payments"] == "42 skipped"
    assert per_table["organizations"] == "1 written without its link"
    assert sum(int(v.split()[0]) for v in per_table.values()) == 302
    # The cut of 20 lines applies to the single rows that follow.
    assert issues[-1].startswith("... and ") and "more (all of them with -v 2" in issues[-1]
    assert status == 1


@pytest.mark.django_db
def test_the_output_says_what_match_natural_would_do(demo_file):  # noqa: F811
    _, owner = owner_of_first_organization(demo_file)
    hold_email("platform", owner["email"])
    _, out, _ = loaddomain(str(demo_file), "--dry-run")
    hint = (
        f"  hint: users '{owner['id']}' and the target's users '{PROD_USER}' share the natural "
        f"key email '{owner['email']}': --match natural would update that row and link the "
        "file's rows to it."
    )
    assert hint in out.splitlines()
    status, out, _ = loaddomain(str(demo_file), "--dry-run", "--match", "natural")
    assert "hint:" not in out and "--match natural would" not in out
    assert status == 0


@pytest.mark.django_db
@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_link_to_a_row_found_nowhere_exits_1_and_the_row_is_written(
    node_file, tmp_path, written_by
):
    """No conflict at all: an organization whose owner is neither in the file nor in the
    database is written without it; exit 1, not 0 nor 3, and the report says so."""
    document = json.loads(open(node_file, encoding="utf-8").read())
    document["data"]["organizations"][0]["ownerId"] = "cnobody0000000000000000001"
    document["metadata"] = {"version": "1.0"}
    path = tmp_path / "nobody.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    report_path = tmp_path / "report.json"
    status, out, error = loaddomain(str(path), "--report", str(report_path))
    assert status == 1
    assert error == "1 row(s) written without a link (listed above); the other rows were loaded."
    organization = document["data"]["organizations"][0]
    assert Organization.objects.get(pk=organization["id"]).owner_id is None
    assert (
        f"unlinked: organizations {organization['id']}: ownerId 'cnobody0000000000000000001' "
        "exists neither in the file nor in the database: the row was written with this link "
        "left empty" in out
    )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["totals"]["failed"] == 0 and report["totals"]["unlinked"] == 1
    [issue] = report["errors"]
    assert issue["kind"] == "unlinked" and "cause" not in issue
