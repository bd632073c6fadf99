"""The admin reverts an import from its page, as it imports: a dry run of the revert first
(what it would delete and restore), then its confirmation; only for users with the
import permission; and the import's run id is on its page."""

import io

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse

from core.models import Organization
from datatransfer.models import ImportRecord
from tests.integration.datatransfer.test_admin import staff
from tests.integration.datatransfer.test_admin_import import page_of, upload
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


def revert_url(record) -> str:
    return reverse("admin:datatransfer_importrecord_revert", args=[record.pk])


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.DATATRANSFER_IMPORTS_DIR = tmp_path / "imports"
    return settings.DATATRANSFER_IMPORTS_DIR


@pytest.fixture
def imported(admin_client, make_database, tmp_path, run_worker):
    """The demo data imported from the admin into a database holding one organization
    already (updated by the import); return (the import's record, the database, its
    snapshot before the import)."""
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    path = tmp_path / "demo.json"
    call_command("dumpdomain", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    target = make_database(vendor)
    before = database_snapshot(target)
    upload(admin_client, path.read_bytes(), target)
    run_worker()
    admin_client.post(
        reverse("admin:datatransfer_importrecord_confirm", args=[ImportRecord.objects.get().pk])
    )
    run_worker()
    record = ImportRecord.objects.get(dry_run=False)
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    return record, target, before


def test_an_import_is_reverted_from_its_page(admin_client, imported, run_worker):
    record, target, before = imported
    assert record.run_id and record.run_id == record.report["run"]
    page = admin_client.get(page_of(record)).content.decode()
    assert record.run_id in page and "Revert…" in page

    response = admin_client.post(revert_url(record), follow=True)
    preview = ImportRecord.objects.get(reverts=record, dry_run=True)
    assert response.redirect_chain[-1][0] == page_of(preview)
    assert run_worker() == 1
    preview.refresh_from_db()
    assert preview.status == ImportRecord.Status.SUCCEEDED, preview.error
    organizations = Organization.objects.count()
    assert preview.report["tables"]["organizations"]["deleted"] == organizations
    assert database_snapshot(target) != before  # a dry run writes nothing
    page = admin_client.get(page_of(preview)).content.decode()
    assert "What the revert would do" in page and "Confirm the revert" in page
    assert f'<td>organizations</td><td class="numeric">{organizations}</td>' in page

    admin_client.post(revert_url(preview), follow=True)
    done = ImportRecord.objects.get(reverts=record, dry_run=False)
    assert run_worker() == 1
    done.refresh_from_db()
    assert done.status == ImportRecord.Status.SUCCEEDED, done.error
    assert database_snapshot(target) == before
    assert "Revert…" not in admin_client.get(page_of(record)).content.decode()
    assert "Confirm the revert" not in admin_client.get(page_of(preview)).content.decode()


def test_a_refused_revert_names_the_row_on_its_page(admin_client, imported, run_worker):
    record, target, _ = imported
    changed = Organization.objects.using(target).order_by("pk").first()
    Organization.objects.using(target).filter(pk=changed.pk).update(name="Changed since")
    admin_client.post(revert_url(record))
    run_worker()
    preview = ImportRecord.objects.get(reverts=record)
    assert preview.status == ImportRecord.Status.FAILED
    assert f"organizations '{changed.pk}'" in preview.error
    assert (
        f"organizations &#x27;{changed.pk}&#x27;"
        in admin_client.get(page_of(preview)).content.decode()
    )


def test_only_users_with_the_import_permission_revert(client, imported):
    record, _, _ = imported
    staff(client, "view_importrecord")  # sees the history, may not import
    page = client.get(page_of(record))
    assert page.status_code == 200 and "Revert…" not in page.content.decode()
    assert client.post(revert_url(record)).status_code == 403
    assert not ImportRecord.objects.filter(reverts=record).exists()
