"""Exports of the changes since a time (`dumpdomain --since`): the rows created or updated
since then and the rows they need, as references; the file says it is partial, loads into
a copy of the target, which then equals the source, and verifies without extra rows.

On SQLite and on PostgreSQL databases made by Prisma's own DDL (when a server is there)."""

import io
import json
import re
import time

import pytest
from django.core.management import CommandError, call_command

from core import models
from core.demo import seed_demo
from core.fields import now_ms
from datatransfer.export_job import ExportJob, ExportOptions
from datatransfer.formats.rows import format_datetime
from datatransfer.registry import TableSpec
from datatransfer.verifier import verify_domain
from tests.importing import import_domain
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


def export(alias, path, **options):
    ExportJob(ExportOptions(output=str(path), using=alias, **options)).run()
    return json.loads(path.read_text(encoding="utf-8"))


def comparable(using) -> dict:
    """database_snapshot, with the audit logs (append-only: each database gives them its
    own ids) as a sorted list of their contents."""
    snapshot = database_snapshot(using)
    logs = snapshot.pop("core.AuditLog").values()
    snapshot["core.AuditLog"] = sorted(
        (sorted((k, str(v)) for k, v in row.items() if k not in ("pk", "id")) for row in logs),
    )
    return snapshot


def change_some_rows(using) -> dict:
    """Change and create rows as the platform does (each save bumps updatedAt, as
    Prisma's @updatedAt); return {table key: ids} of the rows changed or made."""
    organizations = list(models.Organization.objects.using(using).order_by("pk")[:3])
    first, second, third = organizations
    first.name = "Renamed since"
    first.save(using=using)
    department = models.Department(organization=second, name="New since", code="NEW-SINCE")
    department.save(using=using)
    user = models.User.objects.using(using).exclude(organization=third).order_by("pk").first()
    user.organization = third  # a link to a row that did not change: a reference
    user.save(using=using)
    links = models.PermissionToUser.objects.using(using)
    held = links.filter(user=user).values_list("permission_id", flat=True)
    permission = models.Permission.objects.using(using).exclude(pk__in=list(held)).first()
    links.create(user=user, permission=permission)  # the router would write to 'platform'
    log = models.AuditLog(user=user, action="UPDATE", entity="User", entity_id=user.pk)
    log.save(using=using)
    return {
        "organizations": {first.pk},
        "departments": {department.pk},
        "users": {user.pk},
        "auditLogs": {log.pk},
    }


@pytest.fixture(params=["sqlite", "prisma"])
def source_and_target(request, make_database, tmp_path):
    """A seeded source and a target loaded from its full export: equal databases."""
    source, target = make_database(request.param), make_database(request.param)
    seed_demo(scale=1, seed=42, using=source)
    export(source, tmp_path / "full.json")
    report = import_domain(str(tmp_path / "full.json"), using=target)
    assert not report.has_failures and not report.has_conflicts
    assert comparable(source) == comparable(target)
    time.sleep(0.002)  # the seeded rows' stamps are behind the time taken next
    return source, target


def test_a_delta_holds_the_changed_rows_and_what_they_need_and_makes_the_target_equal(
    source_and_target, tmp_path
):
    source, target = source_and_target
    since = now_ms()
    changed = change_some_rows(source)
    delta = export(source, tmp_path / "delta.json", since=since)

    metadata, data = delta["metadata"], delta["data"]
    assert metadata["partial"]["since"] == format_datetime(since)
    references = {key: set(ids) for key, ids in metadata["references"].items()}
    own = {
        key: {row["id"] for row in rows} - references.get(key, set()) for key, rows in data.items()
    }
    own["auditLogs"] = {row["id"] for row in data["auditLogs"]}
    assert {key: ids for key, ids in own.items() if ids} == changed
    # What the changed rows need is there, as references: the user's new organization and
    # permission, the new department's organization.
    user = models.User.objects.using(source).get(pk=next(iter(changed["users"])))
    assert user.organization_id in references["organizations"]
    assert set(user.permissions.values_list("pk", flat=True)) <= references["permissions"]
    # The file is small: the changes, not the database.
    assert sum(map(len, data.values())) < 20
    assert all(key in data for key in own)  # every table's key, as the old tool writes

    report = import_domain(str(tmp_path / "delta.json"), using=target)
    assert not report.has_failures and not report.has_conflicts, report.issues[:3]
    assert f"A partial file (the rows changed since {format_datetime(since)})" in str(report.notes)
    assert comparable(source) == comparable(target)
    # Compared in full: a full export of the source agrees with the target.
    export(source, tmp_path / "after.json")
    assert verify_domain(str(tmp_path / "after.json"), using=target).agrees
    # The partial file agrees too: the target's rows it lacks are not extra.
    verified = verify_domain(str(tmp_path / "delta.json"), using=target)
    assert verified.agrees, {k: t.extra[:3] for k, t in verified.tables.items() if t.extra}
    assert any(note.startswith("A partial file (the rows changed since") for note in verified.notes)
    out = io.StringIO()
    call_command("verifydomain", str(tmp_path / "delta.json"), "--database", target, stdout=out)
    assert "The database agrees with the file." in out.getvalue()


@pytest.fixture
def seeded():
    seed_demo(scale=1, seed=42, using="platform")
    time.sleep(0.002)
    return "platform"


def test_dumpdomain_since_names_the_time_to_pass_next_time(seeded, tmp_path):
    since = now_ms()
    change_some_rows(seeded)
    before = now_ms()
    out = io.StringIO()
    path = tmp_path / "delta.json"
    call_command("dumpdomain", str(path), "--since", format_datetime(since), stdout=out)
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    until = metadata["partial"]["until"]
    # The export's start: taken before anything was read, no later than the file's time.
    assert format_datetime(before) <= until <= metadata["exportedAt"]
    assert f"Next time: --since {until}" in out.getvalue()
    assert f"the rows changed since {format_datetime(since)}" in out.getvalue()
    assert re.search(r"^organizations\s+\d+\s+\d+$", out.getvalue(), re.M)  # as references


def test_the_next_export_from_that_time_holds_only_what_changed_after_it(seeded, tmp_path):
    first = export(seeded, tmp_path / "first.json", since=now_ms())
    organization = models.Organization.objects.order_by("pk").last()
    organization.name = "Changed after the first export"
    organization.save()
    second = export(seeded, tmp_path / "second.json", since=first["metadata"]["partial"]["until"])
    assert [row["id"] for row in second["data"]["organizations"]] == [organization.pk]
    assert second["metadata"]["references"] == {"users": [organization.owner_id]}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-12-07T18:00:00Z", "2026-12-07T18:00:00.000Z"),
        ("2026-12-07T19:00:00.250+01:00", "2026-12-07T18:00:00.250Z"),
        ("2026-12-07 18:00", "2026-12-07T18:00:00.000Z"),  # no offset: UTC (TIME_ZONE)
        ("2026-12-07", "2026-12-07T00:00:00.000Z"),
    ],
)
def test_the_time_is_iso_8601_and_a_naive_one_is_utc(seeded, tmp_path, value, expected):
    document = export(seeded, tmp_path / "x.json", since=value)
    assert document["metadata"]["partial"]["since"] == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "", "2026-12-07T25:00"])
def test_a_time_that_is_not_iso_8601_is_refused_in_one_line(value, tmp_path):
    path = tmp_path / "x.json"
    with pytest.raises(CommandError) as refused:
        call_command("dumpdomain", str(path), "--since", value, stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert str(refused.value) == (
        f"--since: '{value}' is not an ISO 8601 time (for example 2026-12-07T18:00:00Z)."
    )
    assert not path.exists()


def test_since_with_an_organization_takes_the_changed_rows_of_its_subset(seeded, tmp_path):
    since = now_ms()
    organization, other = models.Organization.objects.order_by("pk")[:2]
    for changed in (organization, other):
        changed.name = f"{changed.name}, changed"
        changed.save()
    department = models.Department.objects.filter(organization=organization).first()
    department.save()
    document = export(seeded, tmp_path / "x.json", since=since, organizations=[organization.slug])
    metadata, data = document["metadata"], document["data"]
    assert metadata["organizations"] == [organization.slug]
    assert metadata["partial"]["since"] == format_datetime(since)
    assert [row["id"] for row in data["organizations"]] == [organization.pk]
    assert [row["id"] for row in data["departments"]] == [department.pk]
    # Its owner, which did not change, as a reference; nothing of the other organization.
    assert metadata["references"] == {"users": [organization.owner_id]}
    assert sum(map(len, data.values())) == 3


def test_a_table_without_a_change_column_is_exported_whole(seeded, tmp_path, monkeypatch):
    changed_at = TableSpec.changed_at

    def without_for_site_settings(table):
        return None if table.key == "siteSettings" else changed_at.func(table)

    monkeypatch.setattr(TableSpec, "changed_at", property(without_for_site_settings))
    document = export(seeded, tmp_path / "x.json", since=now_ms())
    assert len(document["data"]["siteSettings"]) == models.SiteSettings.objects.count() > 0
    assert document["data"]["configurations"] == []
