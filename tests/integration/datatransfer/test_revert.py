"""Undo an import: `loaddomain` keeps a journal, `revertimport RUN` puts the target back as
it was, every row and link, on SQLite, PostgreSQL and a database made by Prisma's DDL;
and refuses, naming the rows, when they changed since."""

import gzip
import io
import json
import os
import stat

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from core.demo import seed_demo
from core.models import AuditLog, Organization, Permission, PermissionToUser, User
from datatransfer.registry import tables_by_key
from datatransfer.rowimages import digest, read_images
from datatransfer.sequences import next_values
from datatransfer.writer import postgres
from tests.snapshots import database_snapshot

VENDORS = ["sqlite", "postgresql", "prisma"]


def dump(alias, path):
    call_command("dumpdomain", str(path), "--database", alias, "-v", "0", stdout=io.StringIO())


def load(alias, path, *args):
    out = io.StringIO()
    call_command("loaddomain", str(path), "--database", alias, *args, "--no-input", stdout=out)
    return out.getvalue()


def revert(run, *args):
    out = io.StringIO()
    call_command("revertimport", run, *args, stdout=out, interactive=False)
    return out.getvalue()


def change(using) -> dict:
    """Change the copy `using` so that its export, loaded into the original, creates,
    updates, appends and changes links; return the rows touched."""
    users = User.objects.db_manager(using)
    owner = users.create(email="new-owner@example.org", password_hash="secret-hash")
    # A new organization owned by a new user who belongs to it: a cycle, links set last.
    org = Organization.objects.db_manager(using).create(
        name="Nouvelle", slug="nouvelle", type="ECOLE", owner=owner
    )
    owner.organization = org
    owner.save(using=using)
    moved = users.exclude(pk=owner.pk).filter(permissions__isnull=False).order_by("pk").first()
    moved.first_name, moved.organization = "Renamed", org  # an updated row now links to a new one
    moved.save(using=using)
    permission = Permission.objects.db_manager(using).create(key="new.permission", label="New")
    links = PermissionToUser.objects.using(using)
    links.create(user=moved, permission=permission)
    other = users.exclude(pk__in=[owner.pk, moved.pk]).filter(permissions__isnull=False).first()
    taken = links.filter(user=other).order_by("permission_id").first().permission_id
    links.filter(user=other, permission_id=taken).delete()  # a link taken away
    for number in range(3):
        AuditLog.objects.db_manager(using).create(
            user=owner, action=f"CREATE{number}", entity="Organization", entity_id=org.pk
        )
    return {"moved": moved.pk, "other": other.pk, "owner": owner.pk}


@pytest.fixture
def imported(make_database, tmp_path, request):
    """A seeded target, its snapshot, then the import of a changed copy of it."""
    target = make_database(request.param)
    seed_demo(scale=1, seed=42, using=target)
    copy = make_database("sqlite")
    dump(target, tmp_path / "base.json")
    load(copy, tmp_path / "base.json")
    touched = change(copy)
    dump(copy, tmp_path / "changed.json")
    before = database_snapshot(target)
    out = load(target, tmp_path / "changed.json", "--report", str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    return target, before, out, report, touched


@pytest.mark.parametrize("imported", VENDORS, indirect=True)
def test_revertimport_puts_every_row_and_link_back(imported):
    target, before, out, report, _ = imported
    run = report["run"]
    totals = report["totals"]
    assert totals["created"] >= 3 and totals["updated"] >= 2 and totals["appended"] == 3
    assert out.rstrip().splitlines()[-1] == (
        f"Run {run}: to undo it, python manage.py revertimport {run}"
    )
    journal = settings.DATATRANSFER_JOURNAL_DIR / f"{run}.journal.gz"
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    assert database_snapshot(target) != before

    dry = revert(run, "--dry-run", "--no-input")
    assert "DRY RUN: nothing was written" in dry
    assert [line.split() for line in dry.splitlines() if line.startswith("auditLogs")] == [
        ["auditLogs", "3", "0"]
    ]
    assert database_snapshot(target) != before

    done = revert(run, "--no-input")
    assert f"Reverted run {run}" in done and f"database '{target}'" in done
    assert database_snapshot(target) == before

    with pytest.raises(CommandError, match=f"Run {run} was reverted already") as refused:
        revert(run)
    assert refused.value.returncode == 2


@pytest.mark.parametrize("imported", VENDORS, indirect=True)
def test_a_row_changed_since_the_import_is_named_and_nothing_is_written(imported):
    target, _, _, report, touched = imported
    User.objects.using(target).filter(pk=touched["moved"]).update(last_name="Changed since")
    after = database_snapshot(target)
    with pytest.raises(CommandError) as refused:
        revert(report["run"])
    assert refused.value.returncode == 5
    message = str(refused.value)
    assert f"users '{touched['moved']}'" in message and "nothing was written" in message
    assert "\n" not in message
    assert database_snapshot(target) == after


@pytest.mark.parametrize("imported", ["sqlite", "prisma"], indirect=True)
def test_a_link_taken_away_since_the_import_refuses_the_revert(imported):
    target, _, _, report, touched = imported
    PermissionToUser.objects.using(target).filter(user_id=touched["moved"]).delete()
    after = database_snapshot(target)
    with pytest.raises(CommandError) as refused:
        revert(report["run"])
    assert refused.value.returncode == 5 and f"users '{touched['moved']}'" in str(refused.value)
    assert database_snapshot(target) == after


@pytest.mark.parametrize("imported", ["sqlite", "prisma"], indirect=True)
def test_a_journal_of_the_first_version_still_reverts(imported):
    """Version 1 digested each written row's image (ids for links), not its export."""
    target, before, _, report, _ = imported
    path = settings.DATATRANSFER_JOURNAL_DIR / f"{report['run']}.journal.gz"
    header, *entries = [json.loads(line) for line in gzip.open(path)]
    tables = tables_by_key()
    for entry in entries:
        if entry["after"] is not None:
            [image] = read_images(tables[entry["t"]], [entry["id"]], target).values()
            entry["after"] = digest(image)
    with gzip.open(path, "wb") as out:
        for line in [header | {"journal": 1}, *entries]:
            out.write(json.dumps(line).encode() + b"\n")

    revert(report["run"], "--no-input")

    assert database_snapshot(target) == before


@pytest.mark.parametrize("imported", ["sqlite"], indirect=True)
def test_a_row_linking_to_an_added_row_since_refuses_the_revert(imported):
    target, _, _, report, touched = imported
    log = AuditLog.objects.using(target).create(
        user_id=touched["owner"], action="LOGIN", entity="User"
    )
    with pytest.raises(CommandError, match=f"auditLogs '{log.pk}'") as refused:
        revert(report["run"])
    assert refused.value.returncode == 5


def test_an_unknown_run_is_refused_in_one_line(db):
    with pytest.raises(CommandError, match="No undo journal for run 20200101-000000-abcd") as error:
        revert("20200101-000000-abcd")
    assert error.value.returncode == 2


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_an_import_whose_journal_cannot_be_written_rolls_back(
    make_database, tmp_path, settings, vendor
):
    source, target = make_database("sqlite"), make_database(vendor)
    seed_demo(scale=1, seed=42, using=source)
    dump(source, tmp_path / "demo.json")
    settings.DATATRANSFER_JOURNAL_DIR = tmp_path / "not-a-folder"
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(CommandError, match="undo journal could not be written") as error:
        load(target, tmp_path / "demo.json")
    assert error.value.returncode == 2 and "\n" not in str(error.value)
    assert not any(database_snapshot(target).values())


def test_a_dry_run_keeps_no_journal(make_database, tmp_path):
    source, target = make_database("sqlite"), make_database("sqlite")
    seed_demo(scale=1, seed=42, using=source)
    dump(source, tmp_path / "demo.json")
    journals = set(settings.DATATRANSFER_JOURNAL_DIR.iterdir())
    out = load(target, tmp_path / "demo.json", "--dry-run")
    assert "revertimport" not in out
    assert set(settings.DATATRANSFER_JOURNAL_DIR.iterdir()) == journals


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_appended_rows_written_row_by_row_are_reverted_too(
    make_database, node_file, vendor, tmp_path, monkeypatch
):
    """The Node.js tool's file, with one audit log linking to a user nowhere: that row
    fails, so on PostgreSQL the audit logs take the writer's walk, where the appended
    rows' new ids come from the sequence, not from the set-based path."""
    taken = []
    monkeypatch.setattr(
        postgres, "next_values", lambda *args: taken.append(args[2]) or next_values(*args)
    )
    document = json.loads(open(node_file, encoding="utf-8").read())
    document["data"]["auditLogs"][0]["userId"] = "nobody"
    path = tmp_path / "node.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    target = make_database(vendor)
    with pytest.raises(CommandError, match="1 row"):  # exit 1: the row failed
        load(target, path, "--report", str(tmp_path / "report.json"))
    assert taken == ([1] if vendor == "postgresql" else [])
    assert AuditLog.objects.using(target).count() == 1
    revert(json.loads((tmp_path / "report.json").read_text())["run"], "--no-input")
    assert not any(database_snapshot(target).values())


def test_a_revert_into_another_database_than_the_import_s_is_refused(make_database, tmp_path):
    """The dev database holds the very rows an import created in prod (the file came from
    it): a revert run where the alias (or the env file) now points at dev must not delete
    them there. The journal knows where its database pointed; anywhere else is refused."""
    prod, dev = make_database("sqlite"), make_database("sqlite")
    seed_demo(scale=1, seed=42, using=dev)
    dump(dev, tmp_path / "dev.json")
    out = load(prod, tmp_path / "dev.json")
    run = out.split("Run ", 1)[1].split(":", 1)[0]
    before = database_snapshot(dev)
    with pytest.raises(CommandError) as refused:
        revert(run, "--database", dev, "--no-input")
    assert refused.value.returncode == 2
    message = str(refused.value)
    assert "was an import into sqlite" in message and "nothing was written" in message
    assert database_snapshot(dev) == before
    assert Organization.objects.using(prod).exists()  # and prod is left alone too


def test_a_revert_asks_first_and_off_a_terminal_refuses_without_no_input(make_database, tmp_path):
    """revertimport writes into a database: as loaddomain, it asks on a terminal, and off
    one it refuses in one line (exit 2) unless --no-input; nothing was written."""
    prod, dev = make_database("sqlite"), make_database("sqlite")
    seed_demo(scale=1, seed=42, using=dev)
    dump(dev, tmp_path / "dev.json")
    run = load(prod, tmp_path / "dev.json").split("Run ", 1)[1].split(":", 1)[0]
    after = database_snapshot(prod)
    with pytest.raises(CommandError) as refused:
        call_command("revertimport", run, stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert "standard input is not a terminal" in str(refused.value)
    assert "--no-input" in str(refused.value)
    assert database_snapshot(prod) == after
    revert(run)  # --no-input: reverted
    assert not Organization.objects.using(prod).exists()
