"""The export job: one options value, checked once when built, and the phases scope ->
write -> archive -> record, the history record saved when the run starts and ends."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from datatransfer.exceptions import Code, DataTransferError
from datatransfer.export_job import ExportJob, ExportOptions
from datatransfer.models import ExportRecord

pytestmark = pytest.mark.django_db


def test_options_are_frozen_and_normalized_once(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    options = ExportOptions(organizations=["b", "a", "b"], exclude=["auditLogs"], indent=0)
    assert options.organizations == ("a", "b") and options.exclude == {"auditLogs"}
    assert options.indent is None and options.using == "platform"
    output = Path(options.output)
    assert output.parent == settings.EXPORTS_DIR and output.suffix == ".json"
    with pytest.raises(AttributeError):
        options.indent = 4


@pytest.mark.parametrize(
    "options, code",
    [
        ({"output": "x.json", "indent": -1}, Code.BAD_INDENT),
        ({"output": "x.json", "media": True}, Code.NOT_AN_ARCHIVE_NAME),
        ({"output": "missing/x.tar", "media": True}, Code.NO_FOLDER),
    ],
)
def test_bad_options_are_refused_when_built_with_a_code_and_no_flag(options, code):
    with pytest.raises(DataTransferError) as refused:
        ExportOptions(**options)
    assert refused.value.code == code
    assert "--" not in str(refused.value)


def test_a_negative_indent_is_one_line_exit_2_and_nothing_written(tmp_path):
    with pytest.raises(CommandError, match="The indentation must be 0 or more") as refused:
        call_command("dumpdomain", str(tmp_path / "x.json"), "--indent", "-1")
    assert refused.value.returncode == 2
    assert list(tmp_path.iterdir()) == [] and not ExportRecord.objects.exists()


def test_the_history_shows_the_export_running_while_it_writes(node_file, tmp_path):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    seen = []

    def on_table(key, count):
        seen.append(ExportRecord.objects.values_list("status", "file_path").get())

    path = tmp_path / "x.json"
    run = ExportJob(ExportOptions(output=str(path), command="test"), on_table=on_table).run()
    assert seen and set(seen) == {("running", str(path))}
    record = ExportRecord.objects.get()
    assert record == run.record and record.status == "succeeded"
    assert record.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(path.read_text())["metadata"]["tables"] == record.table_counts
