"""A file altered, cut and re-closed, or made for another schema is refused before any write."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from core.models import Organization, User
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(node_file, tmp_path):
    """A 2.0 export (with its manifest) of the Node.js file's data, and the data emptied."""
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), "-v", "0")
    for model in (Organization, User):
        model.objects.update(
            **({"owner": None} if model is Organization else {"organization": None})
        )
    from django.apps import apps

    for model in reversed(list(apps.get_app_config("core").get_models())):
        model.objects.all().delete()
    return path


def tampered(path, change):
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    out = path.with_name("tampered.json")
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return str(out)


def load(path, *args):
    out = io.StringIO()
    call_command("loaddomain", "--no-input", path, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_export_carries_a_manifest_per_table_and_a_schema_fingerprint(export):
    metadata = json.loads(export.read_text(encoding="utf-8"))["metadata"]
    assert metadata["manifest"]["tables"]["users"]["rows"] == 2
    assert len(metadata["manifest"]["tables"]["users"]["sha256"]) == 64
    assert metadata["manifest"]["schema"]["users"]["passwordHash"] == "CharField"
    assert len(metadata["manifest"]["schemaFingerprint"]) == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["data"]["users"][0].update(role="SUPERADMIN"),
            "table 'users' has rows that differ",
        ),
        (
            lambda d: d["data"]["payments"].pop(),
            "table 'payments' has 0 rows where the manifest says 1",
        ),
        (
            lambda d: d["metadata"]["manifest"]["tables"]["auditLogs"].update(rows=3),
            "table 'auditLogs' has 2 rows",
        ),
        (lambda d: d["data"].pop("siteSettings"), "table 'siteSettings' is missing"),
    ],
)
def test_an_altered_file_is_refused_before_any_write_and_loads_with_no_verify(
    export, change, message
):
    path = tampered(export, change)
    before = database_snapshot("platform")
    with pytest.raises(CommandError, match=message) as raised:
        load(path)
    assert raised.value.returncode == 2 and "--no-verify" in str(raised.value)
    assert database_snapshot("platform") == before
    out = load(path, "--no-verify")
    assert (
        "Note: Not verified: the manifest and the schema were not checked before writing "
        "(--no-verify)." in out
    )
    assert Organization.objects.count() == 2


def test_every_unknown_table_and_field_is_listed_at_once(export):
    def change(document):
        document["data"]["users"][0]["nickname"] = "Mina"
        document["data"]["payments"][0]["tip"] = "1.00"
        document["data"]["notifications"] = []

    with pytest.raises(CommandError) as raised:
        load(tampered(export, change), "--no-verify")
    with pytest.raises(CommandError) as raised:
        load(tampered(export, change))
    message = str(raised.value)
    assert "table 'notifications'" in message
    assert "field 'users.nickname'" in message and "field 'payments.tip'" in message


def test_an_empty_secret_never_replaces_a_set_one(export, tmp_path):
    load(str(export))
    secretless = tmp_path / "secretless.json"
    call_command("dumpdomain", str(secretless), "--exclude-secrets", "-v", "0")
    assert (
        json.loads(secretless.read_text(encoding="utf-8"))["data"]["users"][0]["passwordHash"] == ""
    )
    out = load(str(secretless))
    assert User.objects.get(email="aminata.kone@ufhb.ci").password_hash.startswith("$2b$10$")
    # table, created, appended, updated, unchanged
    assert [line.split()[4] for line in out.splitlines() if line.startswith("users")] == ["2"]
