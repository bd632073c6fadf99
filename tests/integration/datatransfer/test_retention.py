"""Export files hold password hashes: `pruneexports` deletes those older than the retention
(DATATRANSFER_EXPORT_RETENTION_DAYS), and staff with the permission delete them from the
history; the history rows stay, marked."""

import datetime as dt
import io
import os

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse

from datatransfer.models import ExportRecord

pytestmark = pytest.mark.django_db
HISTORY = reverse("admin:datatransfer_exportrecord_changelist")


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_DIR.mkdir()
    return settings.EXPORTS_DIR


@pytest.fixture
def exports(node_file, exports_dir):
    """Two exports in EXPORTS_DIR by dumpdomain: one 40 days old, one of today."""
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    for name in ("old.json", "new.json"):
        call_command("dumpdomain", str(exports_dir / name), stdout=io.StringIO())
    old, new = ExportRecord.objects.order_by("pk")
    backdate(old, days=40)
    return old, new


def backdate(record, *, days):
    ExportRecord.objects.filter(pk=record.pk).update(
        started_at=record.started_at - dt.timedelta(days=days)
    )
    record.refresh_from_db()


def prune(*args) -> str:
    out = io.StringIO()
    call_command("pruneexports", *args, stdout=out)
    return out.getvalue()


def test_pruneexports_deletes_old_files_and_keeps_their_history(exports, exports_dir):
    old, new = exports
    output = prune()
    assert f"Deleted: {old.file_path}" in output
    assert "Deleted 1 export file(s) older than 30 days" in output
    assert not (exports_dir / "old.json").exists() and (exports_dir / "new.json").is_file()
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.file_deleted_at is not None and old.file_deleted_by == "pruneexports"
    assert old.status == ExportRecord.Status.SUCCEEDED and old.checksum  # the history stays
    assert new.file_deleted_at is None
    assert "Deleted 0 export file(s)" in prune()  # a second run finds nothing more


def test_a_dry_run_deletes_nothing(exports, exports_dir):
    output = prune("--dry-run")
    assert "Would delete: " in output and "DRY RUN: nothing was deleted." in output
    assert (exports_dir / "old.json").is_file()
    assert not ExportRecord.objects.filter(file_deleted_at__isnull=False).exists()


def test_the_retention_comes_from_the_setting_or_days(exports, exports_dir, settings):
    old, new = exports
    backdate(new, days=6)
    settings.DATATRANSFER_EXPORT_RETENTION_DAYS = 0
    assert "Retention is off" in prune()
    assert (exports_dir / "old.json").is_file()
    settings.DATATRANSFER_EXPORT_RETENTION_DAYS = 50
    assert "Deleted 0 export file(s) older than 50 days" in prune()
    assert "Deleted 2 export file(s) older than 5 days" in prune("--days", "5")
    assert not any(exports_dir.iterdir())
    with pytest.raises(CommandError, match="--days"):
        prune("--days", "0")


def test_files_not_its_own_are_left_alone(exports, exports_dir, tmp_path):
    old, _ = exports
    elsewhere = tmp_path / "backups" / "kept.json"
    elsewhere.parent.mkdir()
    call_command("dumpdomain", str(elsewhere), stdout=io.StringIO())
    backdate(ExportRecord.objects.get(file_path=str(elsewhere)), days=40)
    (exports_dir / "old.json").write_text("{}")  # not the file that was written
    output = prune()
    assert f"Left alone (outside EXPORTS_DIR, or changed since written): {elsewhere}" in output
    assert f"Left alone (outside EXPORTS_DIR, or changed since written): {old.file_path}" in output
    assert elsewhere.is_file() and (exports_dir / "old.json").is_file()


def test_a_file_already_gone_is_marked(exports, exports_dir):
    old, _ = exports
    (exports_dir / "old.json").unlink()
    assert f"Already gone: {old.file_path}" in prune()
    old.refresh_from_db()
    assert old.file_deleted_by == "pruneexports (already gone)"


def staff(client, *codenames):
    user = User.objects.create_user("agent", password="x", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def delete_action(client, records, **extra):
    data = {"action": "delete_files", ACTION_CHECKBOX_NAME: [r.pk for r in records], **extra}
    return client.post(HISTORY, data, follow=True)


def test_staff_with_the_permission_delete_files_from_the_history(client, exports, exports_dir):
    old, new = exports
    staff(client, "delete_export_file")  # the history is theirs to see, not to export
    assert 'value="delete_files"' in client.get(HISTORY).content.decode()

    confirmation = delete_action(client, [old, new]).content.decode()
    assert "delete-export-files" in confirmation and "old.json" in confirmation
    assert (exports_dir / "old.json").is_file()  # nothing before the confirmation

    page = delete_action(client, [old, new], confirm="yes").content.decode()
    assert "Deleted 2 export files; their history stays." in page
    assert not any(exports_dir.iterdir())
    assert ExportRecord.objects.count() == 2
    assert set(ExportRecord.objects.values_list("file_deleted_by", flat=True)) == {"admin: agent"}
    assert 'class="export-deleted"' in page and "by admin: agent" in page
    download = reverse("admin:datatransfer_exportrecord_download", args=[old.pk])
    assert client.get(download).status_code == 403  # deleting is not downloading
    assert reverse("admin:datatransfer_exportrecord_export") not in page


def test_the_export_s_page_has_a_button_to_delete_its_file(admin_client, exports, exports_dir):
    old, _ = exports
    page = reverse("admin:datatransfer_exportrecord_change", args=[old.pk])
    button = reverse("admin:datatransfer_exportrecord_delete_file", args=[old.pk])
    assert button in admin_client.get(page).content.decode()
    assert "old.json" in admin_client.get(button).content.decode()
    response = admin_client.post(button, {"confirm": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == page
    assert "Deleted 1 export file; its history stays." in response.content.decode()
    assert not (exports_dir / "old.json").exists()
    assert button not in response.content.decode()  # nothing left to delete
    download = reverse("admin:datatransfer_exportrecord_download", args=[old.pk])
    assert admin_client.get(download).status_code == 404


def test_staff_without_the_permission_delete_nothing(client, exports, exports_dir):
    old, _ = exports
    staff(client, "export_domain")
    assert 'value="delete_files"' not in client.get(HISTORY).content.decode()
    delete_action(client, [old], confirm="yes")
    button = reverse("admin:datatransfer_exportrecord_delete_file", args=[old.pk])
    assert client.get(button).status_code == 403
    assert client.post(button, {"confirm": "yes"}).status_code == 403
    page = reverse("admin:datatransfer_exportrecord_change", args=[old.pk])
    assert button not in client.get(page).content.decode()
    assert (exports_dir / "old.json").is_file()
    assert not ExportRecord.objects.filter(file_deleted_at__isnull=False).exists()


def test_undo_journals_fall_under_the_same_retention(node_file, settings, tmp_path):
    """A journal holds secrets as an export does: deleted by pruneexports once as old."""
    settings.DATATRANSFER_JOURNAL_DIR = tmp_path / "journal"
    out = io.StringIO()
    call_command("loaddomain", node_file, stdout=out, interactive=False)
    run = out.getvalue().rstrip().splitlines()[-1].split()[1].rstrip(":")
    journal = settings.DATATRANSFER_JOURNAL_DIR / f"{run}.journal.gz"
    assert journal.is_file()
    assert "Deleted 0 undo journal(s)" in prune()
    old = (dt.datetime.now() - dt.timedelta(days=40)).timestamp()
    os.utime(journal, (old, old))
    assert f"Would delete 1 undo journal(s) of imports older than 30 days: {run}." in prune(
        "--dry-run"
    )
    assert journal.is_file()
    assert f"Deleted 1 undo journal(s) of imports older than 30 days: {run}." in prune()
    assert not journal.exists()
    with pytest.raises(CommandError, match=f"No undo journal for run {run}"):
        call_command("revertimport", run, stdout=io.StringIO())
