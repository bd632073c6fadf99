"""Imports from the admin, through the Django test client: a file is uploaded, its dry run
is queued and run by the worker (in this process: `run_worker`), its page shows the report
(paginated conflicts and errors) and the database it names; Confirm queues the same bytes
for real into that database; every run is recorded with its SHA-256; and who may do it."""

import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.models import Organization
from datatransfer.admin.imports import ISSUES_PER_PAGE
from datatransfer.databases import describe
from datatransfer.models import ImportRecord
from tests.integration.datatransfer.test_admin import staff
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
HISTORY = reverse("admin:datatransfer_importrecord_changelist")
UPLOAD = reverse("admin:datatransfer_importrecord_upload")
KEY = "a signing key for the tests"


def page_of(record) -> str:
    return reverse("admin:datatransfer_importrecord_change", args=[record.pk])


def confirm_url(record) -> str:
    return reverse("admin:datatransfer_importrecord_confirm", args=[record.pk])


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.DATATRANSFER_IMPORTS_DIR = tmp_path / "imports"
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return settings.DATATRANSFER_IMPORTS_DIR


@pytest.fixture
def export_bytes(tmp_path) -> bytes:
    """The demo data, exported by dumpdomain."""
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    path = tmp_path / "demo.json"
    call_command("dumpdomain", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    return path.read_bytes()


@pytest.fixture
def target(make_database):
    """An empty platform database of this run's vendor."""
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    return make_database(vendor)


def upload(client, data: bytes, database: str, name="demo.json", **options):
    return client.post(
        UPLOAD,
        {"file": SimpleUploadedFile(name, data), "database": database, **options},
        follow=True,
    )


def finished(database, **fields) -> ImportRecord:
    """A dry run recorded as done, of a file that is not there."""
    return ImportRecord.objects.create(
        started_at=timezone.now(),
        status=ImportRecord.Status.SUCCEEDED,
        database=database,
        file_name="a.json",
        file_path="/nowhere/a.json",
        file_size=1,
        checksum="0" * 64,
        **fields,
    )


def no_traceback(html: str) -> None:
    assert "Traceback" not in html and 'File "' not in html


def test_upload_preview_confirm_imports_into_the_named_database(
    admin_client, admin_user, export_bytes, target, imports_dir, run_worker
):
    form = admin_client.get(UPLOAD).content.decode()
    assert f"{target} ({describe(target)})" in form  # each database, plainly
    response = upload(admin_client, export_bytes, target)
    preview = ImportRecord.objects.get()
    assert response.redirect_chain[-1][0] == page_of(preview)
    assert "its dry run is queued" in response.content.decode()
    assert preview.dry_run and preview.status == ImportRecord.Status.QUEUED
    assert DBTaskResult.objects.get(pk=preview.task_id).status == "READY"
    sha256 = hashlib.sha256(export_bytes).hexdigest()
    assert preview.checksum == sha256 and preview.file_size == len(export_bytes)
    assert preview.file_name == "demo.json" and preview.user == admin_user
    assert preview.database == target and preview.database_description == describe(target)

    assert run_worker() == 1
    preview.refresh_from_db()
    assert preview.status == ImportRecord.Status.SUCCEEDED, preview.error
    assert database_snapshot(target)["core.Organization"] == {}  # a dry run writes nothing
    organizations = Organization.objects.count()
    assert preview.report["dryRun"] is True and preview.report["file"] == "demo.json"
    assert preview.report["tables"]["organizations"]["created"] == organizations
    assert preview.duration is not None
    page = admin_client.get(page_of(preview)).content.decode()
    assert f"{target} ({describe(target)})" in page
    assert "datatransfer/admin.css" in page and ">None<" not in page  # the admin's media
    assert "Confirm the import" in page and sha256 in page
    assert page.index("import-table-counts") < page.index("Confirm the import")
    # the button sits beside the summary, right after its table (the form is further down)
    beside = page.index('form="import-confirm-form"')
    counts_end = page.index("</table>", page.index("import-table-counts"))
    assert counts_end < beside < page.index('id="import-confirm-form"')
    assert "import-issues" not in page[counts_end:beside]
    assert f'<td>organizations</td><td class="numeric">{organizations}</td>' in page
    assert re.search(r"\d+\.\d s", page)  # the duration, for people

    response = admin_client.post(confirm_url(preview), follow=True)
    record = ImportRecord.objects.exclude(pk=preview.pk).get()
    assert response.redirect_chain[-1][0] == page_of(record)
    assert "is queued" in response.content.decode()
    assert not record.dry_run and record.preview == preview and record.checksum == sha256
    assert record.database == target and record.status == ImportRecord.Status.QUEUED
    assert run_worker() == 1
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    assert record.report["dryRun"] is False
    assert not Path(record.file_path).exists()  # imported: the kept file is deleted
    assert len(database_snapshot(target)["core.Organization"]) == organizations
    assert "Confirm the import" not in admin_client.get(page_of(preview)).content.decode()
    history = admin_client.get(HISTORY).content.decode()
    assert "dry run" in history and f"{organizations:,}" in history

    # A dry run is confirmed once.
    admin_client.post(confirm_url(preview))
    assert ImportRecord.objects.count() == 2


def test_no_database_is_preselected_and_one_must_be_chosen(admin_client, export_bytes, target):
    """The platform database the admin exports from is often the source: the target is
    chosen each time, never taken by default."""
    form = admin_client.get(UPLOAD).content.decode()
    select = re.search(r'<select name="database".*?</select>', form, re.S)[0]
    assert re.findall(r'<option value="([^"]*)" selected>', select) == [""]
    response = upload(admin_client, export_bytes, "")
    assert "This field is required." in response.content.decode()
    assert not ImportRecord.objects.exists()


def test_natural_matching_and_skipping_the_audit_logs_go_from_the_preview_to_the_import(
    admin_client, export_bytes, target, run_worker
):
    response = upload(admin_client, export_bytes, target, match="natural", skip_audit="on")
    preview = ImportRecord.objects.get()
    assert preview.match == "natural" and preview.skip_audit
    assert run_worker() == 1
    preview.refresh_from_db()
    assert preview.status == ImportRecord.Status.SUCCEEDED, preview.error
    assert "auditLogs" not in preview.report["tables"]
    assert "matched" in preview.report["totals"]  # natural matching counts its matches
    page = admin_client.get(page_of(preview)).content.decode()
    assert "by natural key" in page
    admin_client.post(confirm_url(preview), follow=True)
    record = ImportRecord.objects.exclude(pk=preview.pk).get()
    assert record.match == "natural" and record.skip_audit
    assert run_worker() == 1
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    snapshot = database_snapshot(target)
    assert snapshot["core.AuditLog"] == {} and snapshot["core.Organization"]
    assert response.status_code == 200


def test_the_upload_is_kept_privately_under_its_sha256(admin_client, export_bytes, target):
    upload(admin_client, export_bytes, target, name="My Export.json.gz")
    record = ImportRecord.objects.get()
    assert record.file_name == "My Export.json.gz"
    kept = kept_file(record)
    assert kept.name == f"{hashlib.sha256(export_bytes).hexdigest()}.json.gz"
    assert kept.read_bytes() == export_bytes
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def kept_file(record) -> Path:
    path = Path(record.file_path)
    assert path.is_file()
    return path


def test_staff_without_the_permission_gets_403(client, export_bytes, target):
    staff(client, "view_organization")
    assert client.get(HISTORY).status_code == 403
    assert client.get(UPLOAD).status_code == 403
    response = client.post(UPLOAD, {"file": SimpleUploadedFile("a.json", export_bytes)})
    assert response.status_code == 403
    preview = finished(target)
    assert client.post(confirm_url(preview)).status_code == 403
    assert client.get(page_of(preview)).status_code == 403
    assert ImportRecord.objects.count() == 1 and not DBTaskResult.objects.exists()


def test_staff_with_the_permission_imports(client, export_bytes, target, run_worker):
    user = staff(client, "import_domain")
    assert UPLOAD in client.get(HISTORY).content.decode()
    upload(client, export_bytes, target)
    run_worker()
    record = ImportRecord.objects.get()
    assert record.user == user and record.status == ImportRecord.Status.SUCCEEDED


def test_superusers_have_the_permission(admin_user):
    assert admin_user.has_perm("datatransfer.import_domain")


def test_with_a_signing_key_an_unsigned_file_is_refused_in_one_line(
    admin_client, settings, export_bytes, target, run_worker
):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    assert "only files signed with it" in admin_client.get(UPLOAD).content.decode()
    upload(admin_client, export_bytes, target)
    run_worker()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert "demo.json is not signed" in record.error and "\n" not in record.error
    page = admin_client.get(page_of(record)).content.decode()
    assert "demo.json is not signed, and only signed files load here" in page
    assert "Confirm the import" not in page
    no_traceback(page)
    assert admin_client.post(confirm_url(record)).status_code == 302
    assert ImportRecord.objects.count() == 1


def test_with_a_signing_key_a_signed_file_is_accepted(
    admin_client, settings, tmp_path, target, run_worker
):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    path = tmp_path / "signed.json"
    call_command("dumpdomain", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    upload(admin_client, path.read_bytes(), target, name="signed.json")
    run_worker()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def with_unknown_table(data: bytes) -> bytes:
    document = json.loads(data)
    document["data"]["widgets"] = [{"id": "1"}]
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda data: b"hello, this is not an export", "demo.json"),
        (truncated, "demo.json"),
        (with_unknown_table, "Unknown table 'widgets' in demo.json"),
    ],
    ids=["not-an-export", "truncated", "unknown-table"],
)
def test_a_bad_file_shows_one_line_and_writes_nothing(
    admin_client, export_bytes, target, run_worker, make_bad, message
):
    upload(admin_client, make_bad(export_bytes), target)
    assert run_worker() == 1
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert message in record.error and "\n" not in record.error
    assert "domain-import-" not in record.error  # the private copy is never named
    page = admin_client.get(page_of(record)).content.decode()
    assert 'class="errornote import-error"' in page and "Confirm the import" not in page
    no_traceback(page)
    assert all(not rows for rows in database_snapshot(target).values())


def test_a_failed_import_ends_its_task_failed_too(admin_client, export_bytes, target, run_worker):
    """The worker's own record of the task (and its log line) says FAILED, as the import's
    record does, never SUCCESSFUL."""
    upload(admin_client, truncated(export_bytes), target)
    assert run_worker() == 1
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert DBTaskResult.objects.get(id=record.task_id).status == "FAILED"


def test_a_failed_dry_run_deletes_its_kept_file(admin_client, export_bytes, target, run_worker):
    """A dry run that failed can never be confirmed: its upload (which may hold password
    hashes) is not kept for nothing, as a succeeded one is until confirmed."""
    upload(admin_client, truncated(export_bytes), target)
    assert run_worker() == 1
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert not Path(record.file_path).exists()


@pytest.mark.parametrize("name", ["notes.txt", "demo.json.zip", "demo"])
def test_a_name_the_import_does_not_read_is_refused_on_the_form(
    admin_client, export_bytes, target, imports_dir, name
):
    response = upload(admin_client, export_bytes, target, name=name)
    page = response.content.decode()
    assert response.status_code == 200 and "is not an export file nor an archive" in page
    assert not ImportRecord.objects.exists() and not DBTaskResult.objects.exists()
    assert not imports_dir.exists() or not any(imports_dir.iterdir())


def test_a_file_over_the_size_limit_is_refused(admin_client, settings, target, imports_dir):
    settings.DATATRANSFER_IMPORT_MAX_SIZE = 10
    response = upload(admin_client, b'{"metadata": {}, "data": {}}', target)
    assert "files of more than 10 B are not taken here" in response.content.decode()
    assert not ImportRecord.objects.exists()
    assert not imports_dir.exists() or not any(imports_dir.iterdir())


def previewed(admin_client, export_bytes, target, run_worker) -> ImportRecord:
    upload(admin_client, export_bytes, target)
    run_worker()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    return record


def test_a_file_changed_since_its_preview_is_not_imported(
    admin_client, export_bytes, target, run_worker
):
    preview = previewed(admin_client, export_bytes, target, run_worker)
    kept_file(preview).write_bytes(export_bytes + b"\n")
    response = admin_client.post(confirm_url(preview), follow=True)
    assert "changed since its preview" in response.content.decode()
    assert ImportRecord.objects.count() == 1
    assert all(not rows for rows in database_snapshot(target).values())


def test_a_file_changed_after_the_confirmation_is_not_imported(
    admin_client, export_bytes, target, run_worker
):
    preview = previewed(admin_client, export_bytes, target, run_worker)
    admin_client.post(confirm_url(preview))
    kept_file(preview).write_bytes(b"{}")
    run_worker()
    record = ImportRecord.objects.exclude(pk=preview.pk).get()
    assert record.status == ImportRecord.Status.FAILED
    assert "changed since it was uploaded" in record.error
    assert all(not rows for rows in database_snapshot(target).values())


def test_conflicts_and_errors_are_paginated(admin_client, target):
    errors = [
        {"table": "users", "id": f"u{n:03d}", "kind": "error", "message": f"bad row {n:03d}"}
        for n in range(ISSUES_PER_PAGE * 2 + 7)
    ]
    record = finished(
        target,
        report={
            "tables": {"users": {"created": 0, "failed": len(errors)}},
            "totals": {"created": 0, "failed": len(errors)},
            "errors": errors,
            "notes": [],
        },
    )
    first = admin_client.get(page_of(record)).content.decode()
    assert first.count('class="import-issue"') == ISSUES_PER_PAGE
    assert f"{len(errors)} conflicts and errors" in first and "page 1 of 3" in first
    assert "bad row 000" in first and "bad row 050" not in first
    assert 'href="?page=2"' in first
    last = admin_client.get(page_of(record) + "?page=3").content.decode()
    assert last.count('class="import-issue"') == 7 and "bad row 106" in last
    assert "page 3 of 3" in last and 'href="?page=2"' in last


def test_an_archive_is_previewed_with_its_uploaded_files(
    admin_client, tmp_path, target, run_worker
):
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    path = tmp_path / "demo.tar"
    call_command(
        "dumpdomain", str(path), "--with-media", stdout=io.StringIO(), stderr=io.StringIO()
    )
    upload(admin_client, path.read_bytes(), target, name="demo.tar")
    run_worker()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    assert "media" in record.report and record.report["file"] == "demo.tar"
    assert "Uploaded files:" in admin_client.get(page_of(record)).content.decode()


def test_the_pages_are_in_french(admin_client, export_bytes, target, run_worker):
    french = {"accept-language": "fr"}
    assert "Importer un fichier" in admin_client.get(HISTORY, headers=french).content.decode()
    form = admin_client.get(UPLOAD, headers=french).content.decode()
    assert "Fichier d’export ou archive" in form
    preview = previewed(admin_client, export_bytes, target, run_worker)
    page = admin_client.get(page_of(preview), headers=french).content.decode()
    assert "Confirmer l’import" in page and "Confirm the import" not in page


def test_the_folder_and_the_size_limit_are_read_from_the_environment(tmp_path):
    code = (
        "from config import settings; "
        "print(settings.DATATRANSFER_IMPORTS_DIR, settings.DATATRANSFER_IMPORT_MAX_SIZE)"
    )
    env = {**os.environ, "ENV_FILE": os.devnull, "EXPORTS_DIR": str(tmp_path / "exports")}
    for name in ("DATATRANSFER_IMPORTS_DIR", "DATATRANSFER_IMPORT_MAX_MB"):
        env.pop(name, None)
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert default.stdout.split() == [str(tmp_path / "exports" / "imports"), str(1024 << 20)]
    env.update(DATATRANSFER_IMPORTS_DIR=str(tmp_path / "in"), DATATRANSFER_IMPORT_MAX_MB="5")
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert chosen.stdout.split() == [str(tmp_path / "in"), str(5 << 20)], chosen.stderr


def test_pages_reload_themselves_while_queued_and_ask_for_the_worker(
    admin_client, export_bytes, target
):
    upload(admin_client, export_bytes, target)
    record = ImportRecord.objects.get()
    assert 'http-equiv="refresh"' in admin_client.get(page_of(record)).content.decode()
    history = admin_client.get(HISTORY).content.decode()
    assert 'http-equiv="refresh"' in history and "is the worker running?" not in history
    ImportRecord.objects.update(queued_at=timezone.now() - dt.timedelta(minutes=2))
    assert "is the worker running?" in admin_client.get(HISTORY).content.decode()


def test_the_upload_page_leads_back_home_through_the_app_and_the_history(admin_client):
    page = admin_client.get(UPLOAD).content.decode()
    [trail] = re.findall(r'<div class="breadcrumbs">(.*?)</div>', page, re.S)
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', trail)
    assert [href for href, _ in links] == [
        reverse("admin:index"),
        reverse("admin:app_list", kwargs={"app_label": "datatransfer"}),
        reverse("admin:datatransfer_importrecord_changelist"),
    ]
    assert trail.rstrip().endswith("Import a file")
