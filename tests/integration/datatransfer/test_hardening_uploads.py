"""The admin's uploads under attack (issue 20, points 6 and 10): a file over the size limit
is refused while it arrives, before its bytes reach the temporary folder; and previews of
the same bytes each keep a file of their own, so confirming one never breaks another."""

import io
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse

from datatransfer.models import ImportRecord
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
UPLOAD = reverse("admin:datatransfer_importrecord_upload")
LIMIT = 100 * 1024


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.DATATRANSFER_IMPORTS_DIR = tmp_path / "imports"
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return settings.DATATRANSFER_IMPORTS_DIR


@pytest.fixture
def target(make_database):
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    return make_database(vendor)


@pytest.fixture
def spooled(settings, tmp_path, monkeypatch):
    """The bytes of uploaded files that reach the temporary folder (Django's handler that
    writes them to FILE_UPLOAD_TEMP_DIR, used for any file over 10 bytes here): a list of
    each file's count."""
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "tmp"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10
    counts = []
    receive = TemporaryFileUploadHandler.receive_data_chunk
    new_file = TemporaryFileUploadHandler.new_file

    def counting_new_file(self, *args, **kwargs):
        counts.append(0)
        return new_file(self, *args, **kwargs)

    def counting_receive(self, raw_data, start):
        counts[-1] += len(raw_data)
        return receive(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", counting_new_file)
    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", counting_receive)
    return counts


def upload(client, data: bytes, database: str, name="demo.json", **extra):
    form = {"file": SimpleUploadedFile(name, data), "database": database, **extra}
    return client.post(UPLOAD, form, follow=True)


def error_lines(html: str) -> list[str]:
    return re.findall(r'<ul class="errorlist import-error"><li>(.*?)</li></ul>', html)


@pytest.mark.parametrize("size", [40 * LIMIT, LIMIT + 1], ids=["40 times", "one byte"])
def test_an_upload_over_the_limit_is_refused_while_it_arrives(
    admin_client, settings, target, imports_dir, spooled, size
):
    """40 times the limit: refused by its Content-Length, before any byte of the file is
    kept; one byte over: refused once the limit is passed. Either way a one-line message
    on the form, nothing recorded, nothing kept, and never more than the limit spooled."""
    settings.DATATRANSFER_IMPORT_MAX_SIZE = LIMIT
    response = upload(admin_client, b"{" + b" " * (size - 1), target)
    assert response.status_code == 200
    lines = error_lines(response.content.decode())
    assert len(lines) == 1, lines
    assert lines[0].startswith("demo.json is ")
    assert "files of more than 100.0 KB are not taken here (DATATRANSFER_IMPORT_MAX_MB)" in lines[0]
    assert not ImportRecord.objects.exists()
    assert not imports_dir.exists() or not any(imports_dir.iterdir())
    assert sum(spooled) <= LIMIT
    if size > 2 * LIMIT:
        assert sum(spooled) == 0
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_an_upload_at_the_limit_is_taken(admin_client, settings, target, imports_dir, spooled):
    settings.DATATRANSFER_IMPORT_MAX_SIZE = LIMIT
    data = b'{"metadata": {}, "data": {}}'
    upload(admin_client, data + b" " * (LIMIT - len(data)), target)
    record = ImportRecord.objects.get()
    assert record.file_size == LIMIT and Path(record.file_path).stat().st_size == LIMIT


def test_the_upload_still_checks_the_csrf_token(admin_user, target):
    """The upload view reads its body itself (to install the limit first): it still
    refuses a POST without the CSRF token, and takes one with it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    data = b'{"metadata": {}, "data": {}}'
    assert upload(client, data, target).status_code == 403
    assert not ImportRecord.objects.exists()
    client.get(UPLOAD)
    token = client.cookies["csrftoken"].value
    response = upload(client, data, target, csrfmiddlewaretoken=token)
    assert response.status_code == 200 and ImportRecord.objects.count() == 1


@pytest.fixture
def export_bytes(tmp_path) -> bytes:
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    path = tmp_path / "demo.json"
    call_command("dumpdomain", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    return path.read_bytes()


def test_previews_of_the_same_bytes_are_confirmed_each_on_its_own(
    admin_client, export_bytes, target, run_worker
):
    """Two previews of one file: each has its own kept file; confirming the first deletes
    only its own. The second still confirms, and its import is refused: the target changed
    since its preview (the first import wrote it), and what is confirmed is what was
    previewed; nothing is written."""
    upload(admin_client, export_bytes, target)
    upload(admin_client, export_bytes, target)
    assert run_worker() == 2
    first, second = ImportRecord.objects.order_by("pk")
    assert first.status == second.status == ImportRecord.Status.SUCCEEDED
    assert first.checksum == second.checksum

    confirm = "admin:datatransfer_importrecord_confirm"
    admin_client.post(reverse(confirm, args=[first.pk]))
    assert run_worker() == 1
    imported = ImportRecord.objects.get(preview=first)
    assert imported.status == ImportRecord.Status.SUCCEEDED, imported.error
    assert not Path(first.file_path).exists() and Path(second.file_path).is_file()
    written = database_snapshot(target)

    response = admin_client.post(reverse(confirm, args=[second.pk]), follow=True)
    assert "is queued" in response.content.decode()
    assert run_worker() == 1
    again = ImportRecord.objects.get(preview=second)
    assert again.status == ImportRecord.Status.FAILED
    assert again.error.startswith("The target changed since the plan: ")
    assert database_snapshot(target) == written
