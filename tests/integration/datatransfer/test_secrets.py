"""Secrets (the `secrets` of the models' `transfer`: password hashes, invite tokens) are
never printed nor reported: messages name the field instead. Reports are private files
(mode 0600), and a report that cannot be written is refused before anything is written."""

import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import OrganizationInvite, User
from tests.engine_names import WRITER_NAMES
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db

TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
INVITE = "ckinvi0000000000000000001"
USER = "ckuser0000000000000000001"
HASH = "$2b$10$abcdefghijklmnopqrstuv1234567890ABCDEFGHIJKLmnopqrstu"


def command(name, *args):
    """Run a command; return (exit status, stdout + stderr, the error message or '')."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as error:
        assert "\n" not in str(error), error
        return error.returncode, out.getvalue() + err.getvalue(), str(error)
    return 0, out.getvalue() + err.getvalue(), ""


def edited(node_file, tmp_path, change, name="edited.json"):
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    change(document["data"])
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_conflict_on_a_secret_names_the_field_not_its_value(node_file, tmp_path, written_by):
    command("loaddomain", "--no-input", node_file)
    path = edited(
        node_file,
        tmp_path,
        lambda data: data["organizationInvites"][0].update(id="ckinvi0000000000000000002"),
    )
    report = tmp_path / "report.json"
    status, out, message = command(
        "loaddomain", "--no-input", path, "--report", str(report), "-v", "2"
    )
    assert status == 3, message
    line = next(line for line in out.splitlines() if line.startswith("conflict: organizationInv"))
    assert line == (
        "conflict: organizationInvites ckinvi0000000000000000002: token (a secret, not shown) "
        f"already belongs to organizationInvites '{INVITE}'"
    )
    assert TOKEN not in out + message + report.read_text(encoding="utf-8")


def test_a_secret_that_does_not_fit_its_column_is_named_not_shown(node_file, tmp_path):
    secret = "$2b$10$" + "s" * 300
    path = edited(node_file, tmp_path, lambda data: data["users"][0].update(passwordHash=secret))
    report = tmp_path / "report.json"
    status, out, _ = command("loaddomain", "--no-input", path, "--report", str(report))
    assert status == 1
    assert f"error: users {USER}: passwordHash (a secret, not shown): longer than 255" in out
    assert "$2b$10$sss" not in out + report.read_text(encoding="utf-8")
    status, out, _ = command("verifydomain", path)
    assert f"invalid: users {USER}: passwordHash (a secret, not shown): longer than 255" in out
    assert "$2b$10$sss" not in out


def test_verifydomain_says_which_secret_differs_without_either_value(node_file, tmp_path):
    command("loaddomain", "--no-input", node_file)
    User.objects.filter(pk=USER).update(password_hash="$2b$10$databasevalue")
    OrganizationInvite.objects.filter(pk=INVITE).update(token="databasetoken")
    report = tmp_path / "verify.json"
    status, out, _ = command("verifydomain", node_file, "--report", str(report))
    assert status == 1
    assert f"differs: users {USER}: passwordHash differs (a secret, not shown)" in out
    assert f"differs: organizationInvites {INVITE}: token differs (a secret, not shown)" in out
    text = out + report.read_text(encoding="utf-8")
    for secret in (HASH, "$2b$10$databasevalue", TOKEN, "databasetoken"):
        assert secret not in text
    difference = json.loads(report.read_text(encoding="utf-8"))["tables"]["users"]["differing"]
    assert difference == [{"id": USER, "fields": {"passwordHash": {"secret": True}}}]


def test_an_empty_secret_in_the_file_is_told_from_a_set_one(node_file, tmp_path):
    command("loaddomain", "--no-input", node_file)
    path = edited(node_file, tmp_path, lambda data: data["users"][0].update(passwordHash=""))
    status, out, _ = command("verifydomain", path)
    assert status == 1
    assert f"differs: users {USER}: passwordHash empty in the file, set in the database" in out
    assert HASH not in out


@pytest.mark.parametrize("name", ["loaddomain", "verifydomain"])
def test_reports_are_private_files(node_file, tmp_path, name):
    if name == "verifydomain":
        command("loaddomain", "--no-input", node_file)
    report = tmp_path / "report.json"
    report.write_text("an older report")
    report.chmod(0o644)
    no_input = ("--no-input",) if name == "loaddomain" else ()
    assert command(name, *no_input, node_file, "--report", str(report))[0] == 0
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    assert json.loads(report.read_text(encoding="utf-8"))["file"] == node_file
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def can_create_files_in(folder) -> bool:
    try:
        descriptor, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(descriptor)
    os.unlink(probe)
    return True


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot create files in. Permissions do not stop root: then
    /sys, which refuses new files even to root."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if can_create_files_in(folder):
        folder = Path("/sys")
        if can_create_files_in(folder):
            pytest.skip("no folder this process cannot create files in")
    yield folder
    (tmp_path / "read-only").chmod(0o700)


@pytest.mark.parametrize("name", ["loaddomain", "verifydomain"])
@pytest.mark.parametrize("where", ["missing", "read-only"])
def test_a_report_that_cannot_be_written_is_refused_before_anything_is_written(
    node_file, tmp_path, read_only_folder, name, where
):
    folder = tmp_path / "missing" if where == "missing" else read_only_folder
    report = folder / "report.json"
    before = database_snapshot("platform")
    status, out, message = command(name, node_file, "--report", str(report))
    assert status == 2
    assert message.startswith(f"Cannot write the report {report}: "), message
    assert "Traceback" not in out and out == ""
    assert database_snapshot("platform") == before
    assert not report.exists()
