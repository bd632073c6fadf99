"""`loaddomain FILE --prune`: the target's rows within the file's scope that the file does
not hold are deleted, children first; other organizations are left alone; audit logs and
blocks are never deleted (a row they hold stays, reported as skipped); a partial file is
refused. On SQLite, PostgreSQL and a database made by Prisma's DDL."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.demo import seed_demo
from core.models import AuditLog, BlockchainBlock, Department, Organization, Permission, User
from tests.snapshots import database_snapshot

VENDORS = ["sqlite", "postgresql", "prisma"]


def dump(alias, path, *args):
    call_command(
        "dumpdomain", str(path), "--database", alias, *args, "-v", "0", stdout=io.StringIO()
    )


def load(alias, path, *args):
    out = io.StringIO()
    call_command("loaddomain", str(path), "--database", alias, *args, "--no-input", stdout=out)
    return out.getvalue()


def report_of(alias, path, tmp_path, *args, conflicts=False):
    """The output and the --report of a pruning load; with `conflicts`, the load ends with
    skipped rows' exit (the rows a deletion would need kept)."""
    report = tmp_path / "report.json"
    out = io.StringIO()
    command = ["loaddomain", str(path), "--database", alias, "--prune", "--no-input"]
    try:
        call_command(*command, "--report", str(report), *args, stdout=out)
    except CommandError as error:
        if not conflicts:
            raise
        assert "skipped as conflicts" in str(error)
    else:
        assert not conflicts
    return out.getvalue(), json.loads(report.read_text())


def seeded_and_exported(target, path):
    """The demo data seeded into `target`, exported whole to `path`; return `target`."""
    seed_demo(scale=1, seed=42, using=target)
    dump(target, path)
    return target


def deleted(report) -> dict:
    return {key: n["deleted"] for key, n in report["tables"].items() if n["deleted"]}


@pytest.mark.parametrize("vendor", VENDORS)
def test_prune_deletes_the_rows_the_full_export_lacks_and_never_an_audit_log(
    vendor, make_database, tmp_path
):
    target = seeded_and_exported(make_database(vendor), tmp_path / "full.json")
    # Rows made after the export: two that can go, one a kept audit log holds.
    extra = Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    owner = User.objects.using(target).order_by("pk").first()
    org = Organization.objects.db_manager(target).create(
        name="Extra", slug="extra-org", type="ECOLE", owner=owner
    )
    held = User.objects.db_manager(target).create(email="held@example.org", password_hash="x")
    log = AuditLog.objects.db_manager(target).create(user=held, action="LOGIN", entity="User")
    logs, blocks = AuditLog.objects.using(target).count(), BlockchainBlock.objects.using(target)
    blocks = blocks.count()

    out, report = report_of(target, tmp_path / "full.json", tmp_path, conflicts=True)

    assert deleted(report) == {"permissions": 1, "organizations": 1}
    assert not Permission.objects.using(target).filter(pk=extra.pk).exists()
    assert not Organization.objects.using(target).filter(pk=org.pk).exists()
    assert User.objects.using(target).filter(pk=held.pk).exists()  # an audit log holds it
    assert AuditLog.objects.using(target).filter(pk=log.pk).exists()
    assert AuditLog.objects.using(target).count() == logs
    assert BlockchainBlock.objects.using(target).count() == blocks
    skipped = [e for e in report["errors"] if e["table"] == "users"]
    assert [e["id"] for e in skipped] == [str(held.pk)] and "auditLogs" in skipped[0]["message"]
    assert "deleted" in out
    # Everything else is what the file holds: pruning again deletes nothing.
    _, again = report_of(target, tmp_path / "full.json", tmp_path, conflicts=True)
    assert deleted(again) == {}


@pytest.mark.parametrize("vendor", ["sqlite", "prisma"])
def test_a_subset_prunes_its_organizations_rows_only(vendor, make_database, tmp_path):
    target = make_database(vendor)
    seed_demo(scale=1, seed=42, using=target)
    first, second = Organization.objects.using(target).order_by("slug")[:2]
    dump(target, tmp_path / "subset.json", "--organization", first.slug)
    mine = Department.objects.db_manager(target).create(
        organization=first, name="Gone", code="GONE-1"
    )
    theirs = Department.objects.db_manager(target).create(
        organization=second, name="Stays", code="STAYS-1"
    )
    stray = Permission.objects.db_manager(target).create(key="stray.permission", label="Stray")

    _, report = report_of(target, tmp_path / "subset.json", tmp_path)

    assert deleted(report) == {"departments": 1}
    assert not Department.objects.using(target).filter(pk=mine.pk).exists()
    assert Department.objects.using(target).filter(pk=theirs.pk).exists()
    assert Permission.objects.using(target).filter(pk=stray.pk).exists()  # out of scope


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_dry_run_counts_the_deletions_and_writes_nothing(vendor, make_database, tmp_path):
    target = seeded_and_exported(make_database(vendor), tmp_path / "full.json")
    Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    before = database_snapshot(target)

    out, report = report_of(target, tmp_path / "full.json", tmp_path, "--dry-run")

    assert deleted(report) == {"permissions": 1}
    assert "deleted" in out
    assert database_snapshot(target) == before


def test_a_partial_file_is_refused_with_nothing_written(make_database, tmp_path):
    target = make_database("sqlite")
    seed_demo(scale=1, seed=42, using=target)
    dump(target, tmp_path / "delta.json", "--since", "2000-01-01T00:00:00Z")
    Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    before = database_snapshot(target)

    with pytest.raises(CommandError) as refused:
        load(target, tmp_path / "delta.json", "--prune")

    assert refused.value.returncode == 2
    assert "partial file" in str(refused.value) and "\n" not in str(refused.value)
    assert database_snapshot(target) == before


@pytest.mark.parametrize("vendor", ["sqlite", "prisma"])
def test_revertimport_puts_the_pruned_rows_back(vendor, make_database, tmp_path):
    target = seeded_and_exported(make_database(vendor), tmp_path / "full.json")
    Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    owner = User.objects.using(target).order_by("pk").first()
    Organization.objects.db_manager(target).create(
        name="Extra", slug="extra-org", type="ECOLE", owner=owner
    )
    before = database_snapshot(target)

    _, report = report_of(target, tmp_path / "full.json", tmp_path)
    assert deleted(report) == {"permissions": 1, "organizations": 1}
    call_command("revertimport", report["run"], stdout=io.StringIO(), interactive=False)

    assert database_snapshot(target) == before


def plan_prune(target, path, plan):
    """A pruning dry run that writes `plan` (its --report beside it); its report."""
    return report_of(target, path, plan.parent, "--dry-run", "--plan-out", str(plan))[1]


def apply_plan(target, plan):
    call_command(
        "loaddomain",
        "--apply",
        str(plan),
        "--database",
        target,
        "--no-input",
        stdout=io.StringIO(),
    )


@pytest.mark.parametrize("vendor", ["sqlite", "prisma"])
def test_the_plan_holds_the_deletions_and_its_apply_makes_them(vendor, make_database, tmp_path):
    target = seeded_and_exported(make_database(vendor), tmp_path / "full.json")
    extra = Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    plan = tmp_path / "plan.json"

    dry = plan_prune(target, tmp_path / "full.json", plan)

    document = json.loads(plan.read_text())
    assert deleted(dry) == {"permissions": 1}
    assert document["options"]["prune"] is True and document["totals"]["deleted"] == 1
    assert document["tables"]["permissions"]["rows"]["deleted"] == [str(extra.pk)]
    assert Permission.objects.using(target).filter(pk=extra.pk).exists()  # a dry run
    apply_plan(target, plan)
    assert not Permission.objects.using(target).filter(pk=extra.pk).exists()


def _refused_apply(target, plan):
    before = database_snapshot(target)
    with pytest.raises(CommandError) as refused:
        apply_plan(target, plan)
    assert refused.value.returncode == 4
    assert database_snapshot(target) == before
    return str(refused.value)


def test_a_row_new_in_the_scope_since_the_plan_refuses_its_apply(make_database, tmp_path):
    target = seeded_and_exported(make_database("sqlite"), tmp_path / "full.json")
    plan = tmp_path / "plan.json"
    plan_prune(target, tmp_path / "full.json", plan)
    Permission.objects.db_manager(target).create(key="late.permission", label="Late")

    message = _refused_apply(target, plan)

    assert "permissions 1 row differ" in message


def test_a_row_to_delete_that_changed_since_the_plan_refuses_its_apply(make_database, tmp_path):
    target = seeded_and_exported(make_database("sqlite"), tmp_path / "full.json")
    extra = Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")
    plan = tmp_path / "plan.json"
    plan_prune(target, tmp_path / "full.json", plan)
    Permission.objects.using(target).filter(pk=extra.pk).update(label="Edited since")

    message = _refused_apply(target, plan)

    assert "permissions 1 row differ" in message
    assert Permission.objects.using(target).get(pk=extra.pk).label == "Edited since"


def test_an_apply_cannot_drop_the_plans_prune(make_database, tmp_path):
    """--prune is one of the plan's options: left out at the apply, the plan's holds."""
    target = seeded_and_exported(make_database("sqlite"), tmp_path / "full.json")
    plan = tmp_path / "plan.json"
    load(target, tmp_path / "full.json", "--dry-run", "--plan-out", str(plan))
    extra = Permission.objects.db_manager(target).create(key="extra.permission", label="Extra")

    with pytest.raises(CommandError) as refused:
        load(target, tmp_path / "full.json", "--apply", str(plan), "--prune")

    assert refused.value.returncode == 2 and "--prune" in str(refused.value)
    assert Permission.objects.using(target).filter(pk=extra.pk).exists()


@pytest.mark.parametrize("vendor", ["sqlite", "prisma"])
def test_a_cycle_of_rows_the_file_lacks_goes_whole(vendor, make_database, tmp_path):
    target = seeded_and_exported(make_database(vendor), tmp_path / "full.json")
    owner = User.objects.db_manager(target).create(email="cycle@example.org", password_hash="x")
    org = Organization.objects.db_manager(target).create(
        name="Cycle", slug="cycle-org", type="ECOLE", owner=owner
    )
    owner.organization = org
    owner.save(using=target)

    _, report = report_of(target, tmp_path / "full.json", tmp_path)

    assert deleted(report) == {"organizations": 1, "users": 1}
    assert not User.objects.using(target).filter(pk=owner.pk).exists()
