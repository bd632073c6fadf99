"""Files the old tool can read: every export has all 16 table keys, in order, whatever was
left out (`-e`, `--skip-audit`, `--organization`); a table left out is `[]` and is named
in `metadata.excludedTables`, and neither loaddomain nor verifydomain takes that `[]` for
"the table is empty": it is simply not loaded, nor compared."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditLog, ContactMessage, Organization
from datatransfer.registry import domain_tables
from datatransfer.verifier import verify_domain
from tests.domain_order import OLD_TOOL_ORDER
from tests.importing import import_domain
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


def dump(path, *args):
    call_command("dumpdomain", str(path), *args, stdout=io.StringIO())
    return json.loads(Path(path).read_text(encoding="utf-8"))


@pytest.fixture
def loaded(node_file):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    return node_file


@pytest.mark.parametrize(
    ("args", "left_out"),
    [
        (["--skip-audit"], ["auditLogs"]),
        (["-e", "contactMessages", "-e", "auditLogs"], ["auditLogs", "contactMessages"]),
        (["--organization", "ufhb"], ["configurations", "contactMessages", "siteSettings"]),
        ([], []),
    ],
)
def test_every_table_key_is_written_and_a_table_left_out_is_named(loaded, tmp_path, args, left_out):
    document = dump(tmp_path / "export.json", *args)
    assert list(document["data"]) == OLD_TOOL_ORDER == [t.key for t in domain_tables()]
    assert document["metadata"]["excludedTables"] == left_out
    for key in left_out:
        assert document["data"][key] == [], key
        assert key not in document["metadata"]["tables"]  # counts of the tables written
    assert all(document["data"][key] for key in OLD_TOOL_ORDER if key not in left_out)


def test_to_stdout_too(loaded):
    out = io.StringIO()
    call_command(
        "dumpdomain", "-", "--skip-audit", "--indent", "0", stdout=out, stderr=io.StringIO()
    )
    document = json.loads(out.getvalue())
    assert list(document["data"]) == OLD_TOOL_ORDER and document["data"]["auditLogs"] == []


def test_a_table_left_out_is_not_loaded_and_what_the_database_has_stays(loaded, tmp_path):
    path = tmp_path / "no-audit.json"
    dump(path, "--skip-audit", "-e", "contactMessages")
    AuditLog.objects.create(action="prod.only", entity="System")
    before = database_snapshot("platform")
    report = import_domain(str(path))
    assert "auditLogs" not in report.tables and "contactMessages" not in report.tables
    assert report.totals["unchanged"] == sum(
        len(rows) for rows in json.loads(path.read_text())["data"].values()
    )
    assert "Left out of the export, so not loaded: contactMessages, auditLogs." in report.notes
    assert database_snapshot("platform") == before


def test_rows_put_in_a_table_left_out_are_not_loaded_either(loaded, tmp_path):
    path = tmp_path / "no-contact.json"
    document = dump(path, "-e", "contactMessages")
    ContactMessage.objects.all().delete()
    document["data"]["contactMessages"] = json.loads(Path(loaded).read_text())["data"][
        "contactMessages"
    ]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(
        CommandError, match="'contactMessages' has 1 rows where the manifest says 0"
    ):
        call_command("loaddomain", "--no-input", str(edited), stdout=io.StringIO())
    report = import_domain(str(edited), verify=False)
    assert "contactMessages" not in report.tables and not ContactMessage.objects.exists()


def test_a_subset_loads_into_an_empty_database_without_its_left_out_tables(
    loaded, tmp_path, make_database
):
    path = tmp_path / "ufhb.json"
    dump(path, "--organization", "ufhb")
    target = make_database("sqlite")
    report = import_domain(str(path), using=target)
    assert not report.has_failures and not report.has_conflicts
    assert Organization.objects.using(target).filter(slug="ufhb").exists()
    assert "configurations" not in report.tables


def test_verifydomain_does_not_compare_a_table_left_out(loaded, tmp_path):
    path = tmp_path / "no-audit.json"
    dump(path, "--skip-audit")
    AuditLog.objects.create(action="prod.only", entity="System")
    report = verify_domain(str(path))
    assert report.agrees and "auditLogs" not in report.tables
    assert "Left out of the export, not compared: auditLogs." in report.notes
