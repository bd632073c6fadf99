"""Every dumpdomain run is recorded in the export history, and a history that cannot be
written never fails the export."""

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError

from datatransfer.models import ExportRecord

pytestmark = pytest.mark.django_db


def dump(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("dumpdomain", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dumpdomain_records_what_it_wrote(node_file, tmp_path):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    path = tmp_path / "all.json"
    dump(str(path), "--skip-audit", "--exclude-secrets")
    document = json.loads(path.read_text(encoding="utf-8"))
    [record] = ExportRecord.objects.all()
    assert record.status == ExportRecord.Status.SUCCEEDED and record.error == ""
    assert record.command == "dumpdomain" and record.user is None
    assert record.organizations == [] and record.database == "platform"
    assert record.excluded_tables == ["auditLogs"] and record.secrets_excluded is True
    written = {
        key: len(rows)
        for key, rows in document["data"].items()
        if key not in document["metadata"]["excludedTables"]
    }
    assert record.table_counts == written and "auditLogs" not in written
    assert record.total_rows == 19
    assert record.file_path == str(path) and record.file_size == path.stat().st_size
    assert record.checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_subset_run_records_its_organizations(node_file, tmp_path):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    dump(str(tmp_path / "ufhb.json"), "--organization", "ufhb")
    record = ExportRecord.objects.get()
    assert record.organizations == ["ufhb"] and record.scope == "ufhb"
    assert record.table_counts["organizations"] >= 1


def test_a_failed_run_is_recorded_with_its_error(tmp_path):
    with pytest.raises(CommandError, match="'nowhere'"):
        dump(str(tmp_path / "x.json"), "--organization", "nowhere")
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.FAILED and "'nowhere'" in record.error
    assert not (tmp_path / "x.json").exists()


def test_a_history_that_cannot_be_written_only_warns(node_file, tmp_path, monkeypatch):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())

    def refuse(*args, **kwargs):
        raise DatabaseError("no such table: datatransfer_exportrecord")

    monkeypatch.setattr(ExportRecord, "save", refuse)
    out, err = dump(str(tmp_path / "x.json"))
    assert "Warning: The export was not recorded in the history" in err
    assert "no such table" in err
    assert (tmp_path / "x.json").is_file() and "Wrote" in out
