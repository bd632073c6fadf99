"""Uploaded files travel with the data: `dumpdomain --with-media` archives, `loaddomain`
reading them back under MEDIA_ROOT, hostile archives refused, and the admin's checkbox."""

import hashlib
import io
import json
import os
import tarfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.http import FileResponse
from django.urls import reverse

from core.models import DocumentPartage
from datatransfer.media import MANIFEST_MEMBER
from datatransfer.models import ExportRecord
from tests.factories import DocumentPartageFactory

# The domain's database (the platform's), where these tests load and read rows.
connection = connections["platform"]

pytestmark = pytest.mark.django_db

UNICODE_NAME = "documents/école/relevé é.pdf"
BINARY = bytes(range(256)) * 300 + b"\x00\xff" * 1000 + os.urandom(5000)
FILES = {UNICODE_NAME: BINARY, "documents/b/diplôme.bin": b"\x89PNG\r\n\x1a\n" + os.urandom(70_000)}
MISSING = "documents/gone.pdf"


@pytest.fixture(autouse=True)
def folders(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_DIR.mkdir()
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return settings


@pytest.fixture
def documents(settings):
    """Two documents with their files under MEDIA_ROOT, one whose file is missing, one without."""
    rows = []
    for name, data in FILES.items():
        path = settings.MEDIA_ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(DocumentPartageFactory(file_path=name))
    rows.append(DocumentPartageFactory(file_path=MISSING))
    rows.append(DocumentPartageFactory(file_path=None, a_document=False))
    return rows


def run(command, *args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return out.getvalue()


def members(archive) -> dict:
    source = {"fileobj": archive} if isinstance(archive, io.BytesIO) else {"name": archive}
    with tarfile.open(**source) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder) -> dict:
    return (
        {
            str(path.relative_to(folder)): path.read_bytes()
            for path in folder.rglob("*")
            if path.is_file()
        }
        if folder.exists()
        else {}
    )


@pytest.fixture
def archive(documents, tmp_path):
    path = tmp_path / "exports" / "with-media.tar"
    output = run("dumpdomain", str(path), "--with-media")
    assert f"missing: {MISSING}" in output
    return path


@pytest.fixture
def target(make_database):
    return make_database(connection.vendor)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
def test_an_archive_carries_the_export_and_the_files_with_their_manifest(
    documents, tmp_path, suffix
):
    path = tmp_path / "exports" / f"out{suffix}"
    output = run("dumpdomain", str(path), "--with-media")

    assert "Uploaded files: 2 in the archive" in output and "1 missing" in output
    assert f"missing: {MISSING}" in output
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    content = members(path)
    assert set(content) == {"export.json", MANIFEST_MEMBER, *(f"media/{name}" for name in FILES)}
    for name, data in FILES.items():
        assert content[f"media/{name}"] == data
    manifest = json.loads(content[MANIFEST_MEMBER])
    assert sorted(manifest["files"], key=lambda e: e["path"]) == sorted(
        ({"path": n, "size": len(d), "sha256": sha256(d)} for n, d in FILES.items()),
        key=lambda e: e["path"],
    )
    assert [entry["path"] for entry in manifest["missing"]] == [MISSING]
    export = json.loads(content["export.json"])
    assert len(export["data"]["documentPartages"]) == 4


def test_the_history_records_the_archive(archive):
    from datatransfer.models import ExportRecord

    record = ExportRecord.objects.get()
    assert record.file_path == str(archive) and record.status == "succeeded"
    assert (
        record.checksum == sha256(archive.read_bytes())
        and record.file_size == archive.stat().st_size
    )


def test_an_organization_subset_carries_only_its_own_files(documents, tmp_path):
    slug = documents[0].owner_org.slug
    path = tmp_path / "subset.tar"
    run("dumpdomain", str(path), "--with-media", "--organization", slug)
    media = {name for name in members(path) if name.startswith("media/")}
    assert media == {f"media/{UNICODE_NAME}"}


def test_round_trip_into_another_database_puts_the_files_under_its_media_root(
    archive, target, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "target-uploads"
    output = run("loaddomain", "--no-input", str(archive), "--database", target)

    assert "Uploaded files under" in output and "2 created" in output
    assert files_under(settings.MEDIA_ROOT) == FILES
    assert DocumentPartage.objects.using(target).count() == 4
    assert "2 unchanged" in run("loaddomain", "--no-input", str(archive), "--database", target)
    assert files_under(settings.MEDIA_ROOT) == FILES


def test_dry_run_writes_no_file_and_says_what_would_be(archive, target, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "target-uploads"
    output = run("loaddomain", str(archive), "--database", target, "--dry-run")

    assert "2 created" in output and "DRY RUN: no file was written" in output
    assert files_under(settings.MEDIA_ROOT) == {}
    assert DocumentPartage.objects.using(target).count() == 0


def test_an_existing_different_file_is_left_alone_unless_overwrite_media(
    archive, target, settings, tmp_path
):
    settings.MEDIA_ROOT = root = tmp_path / "target-uploads"
    (root / UNICODE_NAME).parent.mkdir(parents=True)
    (root / UNICODE_NAME).write_bytes(b"the target's own file")

    output = run("loaddomain", "--no-input", str(archive), "--database", target)
    assert (
        "1 conflict" in output
        and f"conflict: {UNICODE_NAME}" in output
        and "--overwrite-media" in output
    )
    assert (root / UNICODE_NAME).read_bytes() == b"the target's own file"

    output = run(
        "loaddomain", "--no-input", str(archive), "--database", target, "--overwrite-media"
    )
    assert "1 replaced" in output and "1 unchanged" in output
    assert files_under(root) == FILES


def rewrite(archive, tmp_path, *, extra=(), edit_manifest=None, export=None):
    """A copy of `archive` with `extra` members (TarInfo, bytes or None) added after the export."""
    path = tmp_path / "hostile.tar"
    with tarfile.open(archive) as source, tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in source:
            data = source.extractfile(member).read()
            if member.name == MANIFEST_MEMBER and edit_manifest:
                manifest = json.loads(data)
                edit_manifest(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            if member.name == "export.json" and export is not None:
                data, member.size = export, len(export)
            tar.addfile(member, io.BytesIO(data))
            if member.name == "export.json":
                for info, content in extra:
                    tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def regular(name, data=b"evil"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link(name, kind, target_name):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target_name
    return info, None


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (regular("media/../../escaped.txt"), "goes up with '..'"),
        (regular("../escaped.txt"), "goes up with '..'"),
        (regular("/tmp/escaped-absolute.txt"), "absolute path"),
        (link("media/documents/link.pdf", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (link("media/documents/hard.pdf", tarfile.LNKTYPE, "export.json"), "is a link"),
        (link("media/documents/dev", tarfile.CHRTYPE, ""), "device"),
        (regular("elsewhere/file.txt"), "not under media/"),
    ],
)
def test_a_hostile_archive_is_refused_with_nothing_written(
    archive, target, settings, tmp_path, member, reason
):
    hostile = rewrite(archive, tmp_path, extra=[member])
    settings.MEDIA_ROOT = root = tmp_path / "deep" / "target-uploads"

    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(hostile), "--database", target)

    assert raised.value.returncode == 2
    assert reason in str(raised.value) and "nothing was written" in str(raised.value)
    assert DocumentPartage.objects.using(target).count() == 0
    assert files_under(tmp_path / "deep") == {}
    assert not (tmp_path / "escaped.txt").exists() and not os.path.exists(
        "/tmp/escaped-absolute.txt"
    )
    assert not root.exists()


def test_a_file_whose_checksum_does_not_match_is_not_written(archive, target, settings, tmp_path):
    def corrupt(manifest):
        entry = next(e for e in manifest["files"] if e["path"] == UNICODE_NAME)
        entry["sha256"] = "0" * 64

    tampered = rewrite(archive, tmp_path, edit_manifest=corrupt)
    settings.MEDIA_ROOT = root = tmp_path / "target-uploads"

    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(tampered), "--database", target)

    assert raised.value.returncode == 1 and "1 uploaded file(s) could not be written" in str(
        raised.value
    )
    assert set(files_under(root)) == set(FILES) - {UNICODE_NAME}
    assert DocumentPartage.objects.using(target).count() == 4  # the database import stands


def test_a_broken_export_inside_is_named_in_the_archive(archive, target, settings, tmp_path):
    # A manifest that does not name its export (as before it did), so the export is read.
    broken = rewrite(
        archive,
        tmp_path,
        export=b'{"metadata": {}, "data": {"users": [',
        edit_manifest=lambda manifest: manifest.pop("export"),
    )
    settings.MEDIA_ROOT = root = tmp_path / "target-uploads"

    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(broken), "--database", target)

    assert raised.value.returncode == 2 and f"{broken}:export.json" in str(raised.value)
    assert not root.exists()


def test_a_json_export_still_loads_as_before(documents, target, tmp_path):
    path = tmp_path / "plain.json"
    run("dumpdomain", str(path))
    output = run("loaddomain", "--no-input", str(path), "--database", target)
    assert "Uploaded files" not in output
    assert DocumentPartage.objects.using(target).count() == 4


def test_with_media_needs_a_tar_name(documents, tmp_path):
    with pytest.raises(CommandError, match=r"\.tar"):
        run("dumpdomain", str(tmp_path / "x.json"), "--with-media")


def test_the_admin_checkbox_gives_a_tar_with_the_files(admin_client, documents, run_worker):
    whole = reverse("admin:datatransfer_exportrecord_export")
    page = admin_client.get(whole).content.decode()
    assert 'name="include_media"' in page and "Include uploaded files" in page

    admin_client.post(whole, {"confirm": "yes", "include_media": "1"})
    assert run_worker() == 1
    record = ExportRecord.objects.get()
    response = admin_client.get(
        reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    )
    assert isinstance(response, FileResponse)
    assert ".tar" in response["Content-Disposition"]
    content = members(io.BytesIO(b"".join(response.streaming_content)))
    assert {f"media/{name}" for name in FILES} <= set(content)
    assert content[f"media/{UNICODE_NAME}"] == BINARY


def test_the_checkbox_is_translated(admin_client):
    page = admin_client.get(
        reverse("admin:datatransfer_exportrecord_export"), headers={"accept-language": "fr"}
    ).content.decode()
    assert "Inclure les fichiers déposés" in page


def test_staff_without_the_permission_get_no_archive(client, documents):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("agent", password="x", is_staff=True))
    response = client.post(
        reverse("admin:datatransfer_exportrecord_export"), {"confirm": "yes", "include_media": "1"}
    )
    assert response.status_code == 403


# ---------------------------------------------------------------------------- signed archives

KEY = "media signing key"


@pytest.fixture
def signed_archive(documents, settings, tmp_path):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    path = tmp_path / "exports" / "signed.tar"
    run("dumpdomain", str(path), "--with-media")
    return path


def test_with_a_key_the_media_manifest_is_signed_and_names_the_export(signed_archive):
    content = members(signed_archive)
    manifest = json.loads(content[MANIFEST_MEMBER])
    assert manifest["export"] == {
        "size": len(content["export.json"]),
        "sha256": sha256(content["export.json"]),
    }
    assert manifest["signature"]["algorithm"] == "HMAC-SHA256"
    assert len(manifest["signature"]["value"]) == 64


def test_with_the_key_a_signed_archive_loads(signed_archive, target, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "target-uploads"
    output = run("loaddomain", "--no-input", str(signed_archive), "--database", target)
    assert "2 created" in output and files_under(settings.MEDIA_ROOT) == FILES


def _refused(path, target, settings, tmp_path, match):
    settings.MEDIA_ROOT = root = tmp_path / "target-uploads"
    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(path), "--database", target)
    assert raised.value.returncode == 2 and match in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)
    assert DocumentPartage.objects.using(target).count() == 0
    assert not root.exists()


def test_with_the_key_an_edited_media_manifest_is_refused_before_any_write(
    signed_archive, target, settings, tmp_path
):
    """Someone without the key swaps a file and its size and checksum in the manifest."""
    planted = b"planted content"

    def plant(manifest):
        entry = next(e for e in manifest["files"] if e["path"] == UNICODE_NAME)
        entry["size"], entry["sha256"] = len(planted), sha256(planted)

    edited = rewrite(signed_archive, tmp_path, edit_manifest=plant)
    _refused(edited, target, settings, tmp_path, "media-manifest.json: its signature does not")


def test_with_the_key_an_unsigned_archive_is_refused(archive, target, settings, tmp_path):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    _refused(archive, target, settings, tmp_path, "is not signed")


def test_an_archive_whose_export_is_not_the_one_its_manifest_names_is_refused(
    signed_archive, target, settings, tmp_path
):
    other = tmp_path / "other.json"
    run("dumpdomain", str(other))  # signed too, but another file
    swapped = rewrite(signed_archive, tmp_path, export=other.read_bytes())
    _refused(swapped, target, settings, tmp_path, "export.json is not the export")
