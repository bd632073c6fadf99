"""Nothing lost, nothing leaked, never a traceback: what is checked is exactly what is
loaded, a hostile file is refused in one line before any write, and a bad value is a
failed row, never a crash."""

import gzip
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connections

from core.demo import seed_demo
from core.models import Organization, User
from datatransfer.exceptions import FileFormatError
from datatransfer.formats.json.codec import MAX_DEPTH
from datatransfer.formats.json.reader import LayoutReader
from datatransfer.media import is_archive
from tests.engine_names import WRITER_NAMES, WRITERS_ON
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db

ATTACKER_ID = "ckattacker000000000000001"


def empty_domain(using="platform"):
    """Delete every domain row (the owner cycle first)."""
    Organization._base_manager.using(using).update(owner=None)
    User._base_manager.using(using).update(organization=None)
    for model in reversed(list(apps.get_app_config("core").get_models())):
        model._base_manager.using(using).all().delete()


@pytest.fixture
def export(node_file, tmp_path):
    """A 2.0 export (with its manifest) of the Node.js file's data; the database emptied."""
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), "-v", "0")
    empty_domain()
    return path


def load(path, *args):
    """Run loaddomain; return (exit status, the error's one line or None, stdout)."""
    out = io.StringIO()
    try:
        call_command("loaddomain", "--no-input", str(path), *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, str(error), out.getvalue()
    return 0, None, out.getvalue()


def assert_refused(path, *args, match):
    """The file is refused in one line, exit 2, and the database is left as it was."""
    before = database_snapshot("platform")
    status, message, _ = load(path, *args)
    assert status == 2, message
    assert match in message, message
    assert "\n" not in message and "Traceback" not in message
    assert database_snapshot("platform") == before
    return message


def indented_block(key, rows) -> str:
    """`key: rows` as a table of a file laid out with two spaces, ending with a comma."""
    text = json.dumps({key: rows}, indent=2, ensure_ascii=False)
    lines = text.splitlines()[1:-1]
    return "\n".join("  " + line for line in lines) + ",\n"


def attacker_row(export_path) -> dict:
    document = json.loads(export_path.read_text(encoding="utf-8"))
    return {
        **document["data"]["users"][0],
        "id": ATTACKER_ID,
        "email": "attacker@example.org",
        "role": "SUPERADMIN",
    }


# ---------------------------------------------------------------------------- 1. repeated keys


def test_a_repeated_table_before_the_real_one_is_refused_in_the_tools_layout(export):
    text = export.read_text(encoding="utf-8")
    real = '    "users": [\n'
    assert real in text
    forged = text.replace(real, indented_block("users", [attacker_row(export)]) + real, 1)
    path = export.with_name("forged.json")
    path.write_text(forged, encoding="utf-8")
    with pytest.raises(FileFormatError, match="'users' appears twice"):  # the fast reader itself
        with LayoutReader(str(path)) as reader:
            for _, rows in reader.tables():
                list(rows)
    assert_refused(path, match="'users' appears twice")
    assert not User.objects.filter(pk=ATTACKER_ID).exists()


def test_a_repeated_table_is_refused_in_any_layout(export):
    document = json.loads(export.read_text(encoding="utf-8"))
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    extra = json.dumps([attacker_row(export)], separators=(",", ":"), ensure_ascii=False)
    # Just after the metadata (which names a column "data" too): `{"metadata":{...},"data":{`.
    metadata = json.dumps(
        {"metadata": document["metadata"]}, separators=(",", ":"), ensure_ascii=False
    )
    at = len(metadata)  # the comma after the metadata, less its closing brace, plus one
    assert compact[at:].startswith('"data":{')
    forged = compact[:at] + '"data":{"users":' + extra + "," + compact[at + len('"data":{') :]
    path = export.with_name("forged.json")
    path.write_text(forged, encoding="utf-8")
    assert_refused(path, match="'users' appears twice")
    assert_refused(path, "--no-verify", match="'users' appears twice")


@pytest.mark.parametrize("key", ["metadata", "data"])
def test_a_repeated_metadata_or_data_key_is_refused(export, key):
    document = json.loads(export.read_text(encoding="utf-8"))
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    body = compact[1:-1]
    head = (
        '"metadata":{"version":"2.0"},'
        if key == "metadata"
        else '"data":{"users":' + json.dumps([attacker_row(export)]) + "},"
    )
    path = export.with_name("forged.json")
    path.write_text("{" + head + body + "}", encoding="utf-8")
    assert_refused(path, match=f"'{key}' appears twice")


@pytest.mark.parametrize("indent", [2, None])
def test_a_key_repeated_inside_the_metadata_is_refused(export, indent):
    text = export.read_text(encoding="utf-8")
    document = json.loads(text)
    manifest = json.dumps(document["metadata"]["manifest"], indent=indent, ensure_ascii=False)
    if indent:  # the two-space layout of the tools, so that the fast reader reads it
        lines = text.split("\n")
        at = lines.index('  "data": {') - 2  # the last line inside the metadata
        lines[at] = lines[at] + ',\n    "manifest": ' + manifest.replace("\n", "\n    ")
        forged = "\n".join(lines)
    else:
        forged = json.dumps(document, separators=(",", ":"), ensure_ascii=False).replace(
            '"metadata":{', '"metadata":{"manifest":' + manifest + ",", 1
        )
    path = export.with_name("forged.json")
    path.write_text(forged, encoding="utf-8")
    if indent:
        with pytest.raises(FileFormatError, match="'manifest' appears twice"):
            LayoutReader(str(path))
    assert_refused(path, match="'manifest' appears twice in one object of its metadata")


# ---------------------------------------------------------------------------- 2. checked = loaded


def edited_hash(path):
    """The file's text with the first user's password hash changed (same length), and
    both hashes."""
    text = path.read_text(encoding="utf-8")
    original = json.loads(text)["data"]["users"][0]["passwordHash"]
    edited = original[:-8] + "ATTACKER"
    assert len(edited) == len(original) and text.count(original) == 1
    return text.replace(original, edited), original, edited


def swap_after_check(monkeypatch, swap):
    """Make `swap()` run once the file has been checked, before it is loaded."""
    import datatransfer.importer as importer

    real = importer.scan_file

    def check_then_swap(*args, **kwargs):
        notes = real(*args, **kwargs)
        swap()
        return notes

    monkeypatch.setattr(importer, "scan_file", check_then_swap)


def test_a_file_replaced_between_the_check_and_the_load_is_not_what_is_loaded(export, monkeypatch):
    forged, original, edited = edited_hash(export)
    replacement = export.with_name("replacement.json")
    replacement.write_text(forged, encoding="utf-8")
    swap_after_check(monkeypatch, lambda: replacement.replace(export))
    status, message, _ = load(export)
    assert status == 0, message
    assert User.objects.filter(password_hash=original).count() == 1
    assert not User.objects.filter(password_hash=edited).exists()


def swap_while_loading(monkeypatch, swap):
    """Make `swap()` run once the one read of an import matched by id (checked while it
    loads) has begun, before the users' rows are read."""
    from datatransfer.filecheck import CheckWhileLoading

    real = CheckWhileLoading.rows

    def rows_then_swap(self, key, rows):
        if key == "users":
            swap()
        return real(self, key, rows)

    monkeypatch.setattr(CheckWhileLoading, "rows", rows_then_swap)


def test_a_file_rewritten_in_place_between_the_check_and_the_load_is_refused(export, monkeypatch):
    """Matched by natural key, the file is read twice (the check, then the load)."""
    forged, _, edited = edited_hash(export)

    def rewrite():
        with open(export, "r+b") as file:
            file.write(forged.encode())

    swap_after_check(monkeypatch, rewrite)
    message = assert_refused(export, "--match", "natural", match="changed while it was read")
    assert not User.objects.filter(password_hash=edited).exists()
    assert "nothing was written" in message


def test_a_file_rewritten_in_place_during_its_one_read_never_loads_unchecked_rows(
    export, monkeypatch
):
    """Matched by id, the file is read once, checked as it loads: rows rewritten during
    that read are the rows checked, refused against the manifest; rows read before the
    rewrite are the original ones, checked."""
    forged, original, edited = edited_hash(export)

    def rewrite():
        with open(export, "r+b") as file:
            file.write(forged.encode())

    swap_while_loading(monkeypatch, rewrite)
    before = database_snapshot("platform")
    status, message, _ = load(export)
    assert not User.objects.filter(password_hash=edited).exists()
    if status == 0:
        assert User.objects.filter(password_hash=original).count() == 1
    else:
        assert status == 2 and "nothing was written" in message
        assert database_snapshot("platform") == before


def test_rows_rewritten_in_place_ahead_of_the_one_read_are_refused(tmp_path, monkeypatch):
    """The last table, past what the reader has buffered when the rewrite comes, is read
    as rewritten: its rows do not match the manifest, and everything rolls back."""
    seed_demo(scale=2, seed=42, using="platform")
    export = tmp_path / "large.json"
    call_command("dumpdomain", str(export), "-v", "0")
    empty_domain()
    text = export.read_text(encoding="utf-8")
    last = json.loads(text)["data"]["auditLogs"][-1]["id"]
    at = text.rindex(f'"id": {json.dumps(last)}')
    assert at > 1 << 19  # beyond the read buffer at the rewrite
    forged = text[:at] + text[at:].replace('"action": "', '"action": "X', 1)

    def rewrite():
        with open(export, "r+b") as file:
            file.write(forged.encode())

    swap_while_loading(monkeypatch, rewrite)
    message = assert_refused(export, match="nothing was written")
    assert "auditLogs" in message


# ---------------------------------------------------------------------------- 3. versions


def rewritten(export, change, *, indent=2):
    """The export with `change(document)` applied, written in the tools' layout (indent 2,
    which the fast reader reads) or compact."""
    document = json.loads(export.read_text(encoding="utf-8"))
    change(document)
    path = export.with_name("changed.json")
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [2, None])
def test_a_2_0_file_without_its_manifest_is_refused_unless_no_verify(export, indent):
    path = rewritten(export, lambda d: d["metadata"].pop("manifest"), indent=indent)
    message = assert_refused(path, match="format version 2.0 but no manifest")
    assert "--no-verify" in message
    status, message, out = load(path, "--no-verify")
    assert status == 0, message
    assert (
        "Note: Not verified: the manifest and the schema were not checked before writing "
        "(--no-verify)." in out
    )
    assert User.objects.count() == 2


@pytest.mark.parametrize("indent", [2, None])
def test_a_file_of_an_unknown_version_is_refused_by_both_readers_unless_no_verify(export, indent):
    path = rewritten(export, lambda d: d["metadata"].update(version="3.0"), indent=indent)
    message = assert_refused(path, match="format version 3.0")
    assert "--no-verify" in message
    status, message, out = load(path, "--no-verify")
    assert status == 0, message
    assert "format version 3.0" in out


def test_format_1_0_files_of_the_node_tool_still_load_with_a_note(node_file):
    status, message, out = load(node_file)
    assert status == 0, message
    assert "Format 1.0 file (the Node.js tool)" in out
    assert User.objects.count() == 2


# ---------------------------------------------------------------------------- 4. signatures

KEY = "correct horse battery staple"


def metadata_of(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["metadata"]


def expected_signature(metadata: dict, key: str) -> str:
    """The documented recipe, computed here independently: HMAC-SHA256 keyed with the key's
    UTF-8 bytes, over the metadata without its signature as compact JSON, keys sorted."""
    unsigned = {name: value for name, value in metadata.items() if name != "signature"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def signed_export(export, settings, tmp_path):
    """The export, signed with KEY (dumped again with the key set); the database emptied,
    and no key set."""
    call_command("loaddomain", "--no-input", str(export), stdout=io.StringIO())
    settings.DATATRANSFER_SIGNING_KEY = KEY
    path = tmp_path / "signed.json"
    call_command("dumpdomain", str(path), "-v", "0")
    settings.DATATRANSFER_SIGNING_KEY = ""
    empty_domain()
    return path


def test_the_signing_key_is_read_from_the_environment():
    code = "from config import settings; print(repr(settings.DATATRANSFER_SIGNING_KEY))"
    env = {**os.environ, "ENV_FILE": os.devnull}
    env.pop("DATATRANSFER_SIGNING_KEY", None)
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    env["DATATRANSFER_SIGNING_KEY"] = KEY
    set_ = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (unset.stdout.strip(), set_.stdout.strip()) == ("''", repr(KEY)), unset.stderr


def test_with_a_key_dumpdomain_signs_the_metadata_and_its_manifest(signed_export, export):
    metadata = metadata_of(signed_export)
    assert metadata["signature"] == {
        "algorithm": "HMAC-SHA256",
        "value": expected_signature(metadata, KEY),
    }
    assert "signature" not in metadata_of(export)  # no key, no signature


def test_with_the_key_a_signed_file_loads(signed_export, settings):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    status, message, _ = load(signed_export)
    assert status == 0, message
    assert User.objects.count() == 2


def test_with_the_key_an_unsigned_file_is_refused_before_any_write(export, node_file, settings):
    settings.DATATRANSFER_SIGNING_KEY = KEY
    for path in (export, node_file):
        assert_refused(path, match="is not signed")
        assert_refused(path, "--no-verify", match="--no-verify is refused")


def test_with_the_key_a_file_signed_with_another_key_is_refused(export, settings, tmp_path):
    call_command("loaddomain", "--no-input", str(export), stdout=io.StringIO())
    settings.DATATRANSFER_SIGNING_KEY = "another key"
    path = tmp_path / "other.json"
    call_command("dumpdomain", str(path), "-v", "0")
    empty_domain()
    settings.DATATRANSFER_SIGNING_KEY = KEY
    assert_refused(path, match="signature does not match")


def test_with_the_key_a_signed_file_whose_rows_and_manifest_were_edited_is_refused(
    signed_export, settings
):
    """Someone without the key edits a row and recomputes the manifest: the manifest
    matches the rows again, the signature does not."""
    from datatransfer.manifest import TableDigest

    def change(document):
        document["data"]["users"][0]["role"] = "SUPERADMIN"
        digest = TableDigest()
        for row in document["data"]["users"]:
            digest.add(row)
        document["metadata"]["manifest"]["tables"]["users"] = digest.as_dict()

    path = rewritten(signed_export, change)
    status, message, _ = load(path, "--dry-run")  # the manifest alone is satisfied
    assert status == 0, message
    settings.DATATRANSFER_SIGNING_KEY = KEY
    assert_refused(path, match="signature does not match")


def promoted_after_signing(signed_export):
    """The signed file with its first user made SUPERADMIN and given another password
    hash, its manifest and signature left as they were (someone without the key)."""

    def change(document):
        user = document["data"]["users"][0]
        user["role"] = "SUPERADMIN"
        user["passwordHash"] = user["passwordHash"][:-8] + "ATTACKER"

    return rewritten(signed_export, change), "ATTACKER"


def test_with_the_key_rows_altered_after_signing_are_refused_and_no_verify_lifts_nothing(
    signed_export, settings
):
    path, marker = promoted_after_signing(signed_export)
    settings.DATATRANSFER_SIGNING_KEY = KEY
    for args in ((), ("--dry-run",), ("--match", "natural")):
        message = assert_refused(path, *args, match="does not match its manifest")
        assert "--no-verify" not in message and "DATATRANSFER_SIGNING_KEY" in message
    for args in (("--no-verify",), ("--no-verify", "--match", "natural")):
        message = assert_refused(path, *args, match="DATATRANSFER_SIGNING_KEY is set")
        assert "--no-verify is refused" in message
    assert not User.objects.filter(role="SUPERADMIN").exists()
    assert not User.objects.filter(password_hash__endswith=marker).exists()


def test_with_the_key_no_verify_is_refused_even_for_a_good_file_and_by_the_api(
    signed_export, settings
):
    from datatransfer.exceptions import DataTransferError
    from datatransfer.verifier import verify_domain
    from tests.importing import import_domain

    settings.DATATRANSFER_SIGNING_KEY = KEY
    assert_refused(signed_export, "--no-verify", match="DATATRANSFER_SIGNING_KEY is set")
    for function in (import_domain, verify_domain):
        with pytest.raises(DataTransferError, match="DATATRANSFER_SIGNING_KEY is set") as raised:
            function(str(signed_export), verify=False)
        assert raised.value.exit_code == 2
    assert User.objects.count() == 0


def test_with_the_key_verifydomain_refuses_rows_altered_after_signing(signed_export, settings):
    call_command("loaddomain", "--no-input", str(signed_export), stdout=io.StringIO())
    path, _ = promoted_after_signing(signed_export)
    settings.DATATRANSFER_SIGNING_KEY = KEY
    for args in ((), ("--no-verify",)):
        with pytest.raises(CommandError) as refused:
            call_command("verifydomain", str(path), *args, stdout=io.StringIO())
        message = str(refused.value)
        assert refused.value.returncode == 2 and "\n" not in message, message
        assert "DATATRANSFER_SIGNING_KEY" in message
        assert "use --no-verify" not in message, message


def test_without_a_key_signatures_are_not_checked_and_the_report_says_so(signed_export):
    def change(document):
        document["metadata"]["signature"]["value"] = "0" * 64

    status, message, out = load(rewritten(signed_export, change))
    assert status == 0, message
    assert "signature was not checked" in out


# ---------------------------------------------------------------------------- 5. ids


def node_document(node_file) -> dict:
    with open(node_file, encoding="utf-8") as file:
        return json.load(file)


def written(tmp_path, document, name="ids.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
@pytest.mark.parametrize("value", ["2016-12-31T23:59:60.000Z", "2023-01-01T24:00:00.000Z"])
def test_an_impossible_time_fails_its_row_with_every_writer(node_file, tmp_path, written_by, value):
    """A leap second or 24:00 is refused as the codec refuses it, by PostgreSQL's own
    backend too (which would otherwise store the next minute or the next day)."""
    from core.models import ContactMessage

    document = node_document(node_file)
    document["data"]["contactMessages"][0]["createdAt"] = value
    status, error, out = load(written(tmp_path, document))
    assert status == 1, error
    assert error == "1 row(s) failed; the other rows were loaded."
    assert "error: contactMessages ckcont0000000000000000001: createdAt" in out
    assert not ContactMessage.objects.exists()


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_the_same_id_twice_in_a_table_is_refused_naming_the_table_and_the_id(
    node_file, tmp_path, written_by
):
    document = node_document(node_file)
    users = document["data"]["users"]
    users.append({**users[0], "email": "second.copy@example.org"})
    logs = document["data"]["auditLogs"]
    logs.append({**logs[0], "id": str(logs[0]["id"])})  # 17 and "17": the same key
    path = written(tmp_path, document)
    message = assert_refused(path, match="table 'users' repeats the id")
    assert "'ckuser0000000000000000001'" in message
    assert "table 'auditLogs' repeats the id '17'" in message
    assert_refused(path, "--no-verify", match="'ckuser0000000000000000001'")


def test_many_repeated_ids_are_listed_up_to_a_limit(node_file, tmp_path):
    document = node_document(node_file)
    messages = document["data"]["contactMessages"]
    template = messages[0]
    messages[:] = [{**template, "id": f"ckmsg{n:020d}"} for n in range(30)] * 2
    message = assert_refused(written(tmp_path, document), match="table 'contactMessages'")
    assert "'ckmsg00000000000000000000'" in message and "and 20 more" in message


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_id_is_refused(node_file, tmp_path, empty):
    document = node_document(node_file)
    document["data"]["contactMessages"][0]["id"] = empty
    path = written(tmp_path, document)
    assert_refused(path, match="table 'contactMessages' has a row with an empty id (row 1)")
    assert_refused(path, "--no-verify", match="table 'contactMessages' has a row with an empty id")


# ---------------------------------------------------------------------------- 6. hostile input

ROOT = Path(__file__).resolve().parents[3]


def nested(depth: int):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def with_configuration_value(node_file, tmp_path, text: str, *, indent=2):
    """The Node.js file with the configuration's JSON value spelled `text`, in the tools'
    layout (read by the fast reader) or compact (the generic reader)."""
    document = node_document(node_file)
    document["data"]["configurations"][0]["value"] = "@VALUE@"
    spelled = json.dumps(document, indent=indent, ensure_ascii=False)
    path = tmp_path / f"deep-{indent}.json"
    path.write_text(spelled.replace('"@VALUE@"', text, 1) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [2, None])
@pytest.mark.parametrize(
    ("depth", "inside"), [(120, ""), (2000, ""), (2000, "12345678901234567890")]
)
def test_json_nested_too_deep_is_refused_in_one_line(node_file, tmp_path, indent, depth, inside):
    # An integer beyond 64 bits sends the fast reader to the standard library's parser.
    text = "[" * depth + inside + "]" * depth
    path = with_configuration_value(node_file, tmp_path, text, indent=indent)
    assert_refused(path, match=f"nests deeper than {MAX_DEPTH} levels")
    assert_refused(path, "--no-verify", match=f"nests deeper than {MAX_DEPTH} levels")


def test_json_nested_just_within_the_limit_loads(node_file, tmp_path):
    value = nested(MAX_DEPTH - 4)  # the document, data, the table and the row hold it
    path = with_configuration_value(node_file, tmp_path, json.dumps(value))
    status, message, _ = load(path)
    assert status == 0, message


def manage(*args, timeout=120):
    """Run manage.py in a process of its own; return (exit status, stderr, peak RSS in MB)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        process.stderr.close()
        process.returncode = 0  # waited for above
    return os.waitstatus_to_exitcode(status), stderr, usage.ru_maxrss / 1024


def test_a_file_nested_30000_deep_is_refused_in_little_memory(make_database, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(
        '{"metadata": {}, "data": {"configurations": [{"id": "x", "value": '
        + "[" * 30000
        + "]" * 30000
        + "}]}}",
        encoding="utf-8",
    )
    target = make_database("sqlite")
    name = connections.settings[target]["NAME"]
    os.environ["DATABASE_URL_DEEP"] = f"sqlite:///{name}"
    try:
        status, stderr, peak = manage("loaddomain", "--no-input", str(path), "--database", "deep")
    finally:
        del os.environ["DATABASE_URL_DEEP"]
    assert status == 2 and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "nests deeper" in stderr, stderr
    assert peak < 400, f"{peak:.0f} MB"


def test_a_line_longer_than_the_bound_leaves_the_fast_reader_after_reading_little(
    node_file, tmp_path, monkeypatch
):
    from datatransfer.formats import source
    from datatransfer.formats.json import reader as fileformat

    document = node_document(node_file)
    document["data"]["contactMessages"][0]["message"] = "long line " * 500_000  # 5 MB
    path = written(tmp_path, document, "long.json")
    expected_status, expected_message, expected = load(path)
    assert expected_status == 0, expected_message
    empty_domain()

    monkeypatch.setattr(fileformat.LayoutReader, "MAX_LINE", 1000)
    read = []
    real = source._SourceRead.readinto

    def counting(self, buffer):
        count = real(self, buffer)
        read.append(count)
        return count

    monkeypatch.setattr(source._SourceRead, "readinto", counting)
    with pytest.raises(fileformat.LayoutMismatch), fileformat.LayoutReader(str(path)) as reader:
        for _, rows in reader.tables():
            list(rows)
    assert sum(read) < 1 << 20, "the fast reader read far past its line bound"
    status, message, out = load(path)  # the generic reader takes over: same result
    assert (status, out.split("\n\n")[0]) == (0, expected.split("\n\n")[0]), message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("utf-16", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-8-sig", "byte order mark"),
        ("binary", "binary"),
        ("random", "not valid JSON"),
    ],
)
def test_binary_or_utf16_input_is_refused_in_one_readable_line(
    node_file, tmp_path, content, reason
):
    text = Path(node_file).read_text(encoding="utf-8")
    data = {
        "binary": bytes(range(256)) * 64,
        "random": bytes((n * 7919 + 13) % 255 + 1 for n in range(20000)),  # no NUL
    }.get(content) or text.encode(content)
    path = tmp_path / "input.json"
    path.write_bytes(data)
    message = assert_refused(path, match=reason)
    assert "b'" not in message and "\\x" not in message, message


def test_a_zero_filled_json_file_is_not_taken_for_a_tar_archive(tmp_path):
    path = tmp_path / "zeros.json"
    path.write_bytes(bytes(20 << 20))
    assert not is_archive(str(path))
    assert_refused(path, match="binary")


@pytest.mark.parametrize("name", ["archive.bin", "archive.bin.gz"])
def test_a_tar_archive_under_another_name_is_still_recognised(tmp_path, name):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("export.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    data = buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert is_archive(str(path))


def test_keys_with_control_characters_are_escaped_in_refusals(node_file, tmp_path):
    document = node_document(node_file)
    document["data"]["bad\nkey\x1b[2J"] = []
    document["data"]["users"][0]["nick\u2028name"] = "x"
    message = assert_refused(written(tmp_path, document), match="Unknown")
    assert "bad\\nkey\\x1b[2J" in message and "nick\\u2028name" in message, message


def test_archive_member_names_with_control_characters_are_escaped(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("\x1b[31mevil\nname.pdf")  # not under media/
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    path = tmp_path / "hostile.tar"
    path.write_bytes(buffer.getvalue())
    message = assert_refused(path, match="evil")
    assert "'\\x1b[31mevil\\nname.pdf' is not under media/" in message, message


# ---------------------------------------------------------------------------- 7. NUL in keys


@pytest.mark.parametrize(
    ("written_by", "vendor"),
    [(writer, vendor) for vendor in ("sqlite", "postgresql") for writer in WRITERS_ON[vendor]],
    indirect=["written_by"],
)
def test_a_nul_inside_permission_keys_fails_its_row_naming_the_field(
    make_database, node_file, tmp_path, written_by, vendor
):
    target = make_database(vendor)
    document = node_document(node_file)
    user = document["data"]["users"][0]
    user["permissionKeys"] = ["users.read\x00; DROP TABLE"]
    report = tmp_path / "report.json"
    path = written(tmp_path, document)
    status, message, out = load(path, "--database", target, "--report", str(report))
    assert status == 1, message  # the user's row, and the rows that need it, failed
    # The organization the user owns is written all the same, without its owner.
    assert message.endswith(
        "row(s) failed, 1 row(s) written without a link (listed above); the other rows were loaded."
    )
    errors = json.loads(report.read_text())["errors"]
    [error] = [e for e in errors if e["table"] == "users"]
    assert (error["id"], error["kind"]) == (user["id"], "error")
    assert error["message"].startswith("permissionKeys"), error["message"]
    assert "NUL" in error["message"]
    assert not User.objects.using(target).filter(pk=user["id"]).exists()


# ---------------------------------------------------------------------------- verifydomain


def test_verifydomain_names_the_flag_for_an_altered_file_and_reads_it_once(export, monkeypatch):
    import datatransfer.verifier as verifier

    call_command("loaddomain", "--no-input", str(export), stdout=io.StringIO())
    forged, _, _ = edited_hash(export)
    altered = export.with_name("altered.json")
    altered.write_text(forged, encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        call_command("verifydomain", str(altered), stdout=io.StringIO())
    assert raised.value.returncode == 2
    assert str(raised.value).endswith("(use --no-verify to compare it anyway).")

    real = verifier.scan_file

    def check_then_rewrite(*args, **kwargs):
        notes = real(*args, **kwargs)
        with open(export, "r+b") as file:
            file.write(forged.encode())
        return notes

    monkeypatch.setattr(verifier, "scan_file", check_then_rewrite)
    with pytest.raises(CommandError, match="changed while it was read") as raised:
        call_command("verifydomain", str(export), stdout=io.StringIO())
    assert raised.value.returncode == 2


def test_with_the_key_verifydomain_checks_the_signature_too(export, signed_export, settings):
    call_command("loaddomain", "--no-input", str(signed_export), stdout=io.StringIO())
    settings.DATATRANSFER_SIGNING_KEY = KEY
    out = io.StringIO()
    call_command("verifydomain", str(signed_export), stdout=out)
    assert "The database agrees with the file." in out.getvalue()
    for args, refusal in (((), "is not signed"), (("--no-verify",), "--no-verify is refused")):
        with pytest.raises(CommandError, match=refusal) as refused:
            call_command("verifydomain", str(export), *args, stdout=io.StringIO())
        assert refused.value.returncode == 2


def test_ids_and_values_with_control_characters_are_escaped_in_printed_lines(node_file, tmp_path):
    document = node_document(node_file)
    message = document["data"]["contactMessages"][0]
    message["id"] = "ckmsg\x1b[2J\nforged line"
    message["email"] = None  # fails the row: the email is required
    path = written(tmp_path, document)
    status, error, out = load(path)
    assert status == 1, error
    assert "contactMessages ckmsg\\x1b[2J\\nforged line: email null: null is not allowed" in out
    assert "\x1b" not in out
    status, error, _ = load(path, "--strict")
    assert status == 1 and "\n" not in error and "ckmsg\\x1b[2J\\nforged line" in error
