import gzip
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import Organization
from datatransfer.files import human_size
from tests.domain_order import OLD_TOOL_ORDER
from tests.subprocesses import database_url, run_manage

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def run(name, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dumpdomain_writes_under_exports_with_a_utc_time_name_and_says_how_to_import(
    settings, tmp_path, node_file
):
    settings.EXPORTS_DIR = tmp_path / "exports"
    run("loaddomain", "--no-input", node_file)
    out, _ = run("dumpdomain")
    [written] = list((tmp_path / "exports").iterdir())
    assert re.fullmatch(r"export-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json", written.name)
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    assert re.search(r"^organizations\s+2$", out, re.M)
    assert re.search(r"^total\s+21$", out, re.M)
    assert f"python manage.py loaddomain {written} --database TARGET --dry-run" in out
    metadata = json.loads(written.read_text(encoding="utf-8"))["metadata"]
    assert metadata["format"] == "domain-export" and metadata["version"] == "2.0"
    assert list(metadata["tables"]) == OLD_TOOL_ORDER
    assert metadata["tables"]["auditLogs"] == 2


def test_dumpdomain_to_stdout_keeps_the_summary_off_the_data(node_file):
    run("loaddomain", "--no-input", node_file)
    out, err = run("dumpdomain", "-", "--skip-audit", "--indent", "0")
    document = json.loads(out)
    assert document["data"]["auditLogs"] == [] and len(document["data"]) == 16
    assert f"Wrote {human_size(len(out.encode()))} to standard output from database" in err


def test_dumpdomain_plan_prints_the_order_and_the_links_set_last():
    out, _ = run("dumpdomain", "--plan")
    assert " 2. organizations" in out and "set last: ownerId" in out
    assert "users                  after: permissions, organizations" in out


def test_gzip_files_go_both_ways(node_file, tmp_path):
    run("loaddomain", "--no-input", node_file)
    target = tmp_path / "x.json.gz"
    run("dumpdomain", str(target), "-v", "0")
    assert (
        json.loads(gzip.decompress(target.read_bytes()))["data"]["organizations"][0]["slug"]
        == "ufhb"
    )
    out, _ = run("loaddomain", "--no-input", str(target))
    assert re.search(r"^total\s+0\s+0\s+0\s+21\s+0\s+0$", out, re.M)


def test_loaddomain_prints_statistics_and_writes_the_report(node_file, tmp_path):
    Organization.objects.create(
        id="ckprodorg0000000000000001", name="UFHB (prod)", slug="ufhb", type="UNIVERSITE"
    )
    report_path = tmp_path / "report.json"
    status, out, _ = run_status("loaddomain", node_file, "--dry-run", "--report", str(report_path))
    assert status == 3  # a conflict
    assert "DRY RUN: nothing was written" in out
    conflict = "conflict: organizations ckorga0000000000000000001: slug 'ufhb' already belongs to"
    assert conflict in out
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (
        report["dryRun"] is True
        and report["database"] == "platform"
        and report["file"] == node_file
    )
    assert report["tables"]["organizations"] == {
        "created": 1,
        "appended": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
        "failed": 0,
        "unlinked": 0,
    }
    assert report["totals"]["skipped"] == sum(t["skipped"] for t in report["tables"].values())
    assert report["errors"][0] == {
        "table": "organizations",
        "id": "ckorga0000000000000000001",
        "kind": "conflict",
        "message": "slug 'ufhb' already belongs to organizations 'ckprodorg0000000000000001'",
        # the slug is the organizations' natural key: a match by it would take that row
        "naturalMatch": {"table": "organizations", "id": "ckprodorg0000000000000001"},
    }
    assert Organization.objects.count() == 1


def test_loaddomain_exits_1_when_rows_failed(node_file, tmp_path):
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    document["data"]["configurations"][0]["key"] = "k" * 101
    path = tmp_path / "bad-row.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(path))
    assert raised.value.returncode == 1
    assert Organization.objects.count() == 2  # the other rows went in


def _bad_files(tmp_path, node_file):
    text = Path(node_file).read_text(encoding="utf-8")
    unknown_field = json.loads(text)
    unknown_field["data"]["users"][0]["nickname"] = "Mina"
    cases = {
        "missing": (None, "No such file"),
        "not-json": ("hello", "is not valid JSON"),
        "truncated": (text[: len(text) // 2], "is not valid JSON"),
        "shape": ("[1, 2]", "is not a domain export"),
        "unknown-table": (
            json.dumps({"data": {"notifications": []}}),
            "Unknown table 'notifications'",
        ),
        "unknown-field": (json.dumps(unknown_field), "Unknown field 'users.nickname'"),
        "not-rows": (json.dumps({"data": {"users": {"a": 1}}}), "Table 'users'"),
    }
    for name, (content, _) in cases.items():
        if content is not None:
            (tmp_path / f"{name}.json").write_text(content, encoding="utf-8")
    return {name: (str(tmp_path / f"{name}.json"), message) for name, (_, message) in cases.items()}


def test_bad_input_is_one_clear_error_with_status_2_and_nothing_written(tmp_path, node_file):
    for name, (path, message) in _bad_files(tmp_path, node_file).items():
        with pytest.raises(CommandError, match=message) as raised:
            run("loaddomain", "--no-input", path)
        assert raised.value.returncode == 2, name
        assert "\n" not in str(raised.value), name
    assert Organization.objects.count() == 0


def test_every_unknown_table_and_field_is_named_in_one_error(tmp_path, node_file):
    """Checked as it loads, the file is refused once read: every name the models lack in
    one line, nothing written."""
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    document["data"]["users"][0]["nickname"] = "Mina"
    document["data"]["notifications"] = [{"id": 1}]
    document["metadata"]["tables"] = {key: len(rows) for key, rows in document["data"].items()}
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        run("loaddomain", "--no-input", str(path))
    message = str(raised.value)
    assert raised.value.returncode == 2 and "\n" not in message
    assert "field 'users.nickname'" in message and "table 'notifications'" in message
    assert Organization.objects.count() == 0


def test_an_unknown_table_is_skipped_with_ignore_unknown(tmp_path):
    path = tmp_path / "extra.json"
    path.write_text(
        json.dumps({"data": {"notifications": [{"id": 1}], "permissions": []}}), encoding="utf-8"
    )
    out, _ = run("loaddomain", "--no-input", str(path), "--ignore-unknown")
    assert re.search(r"^permissions\s", out, re.M) and not re.search(r"^notifications", out, re.M)
    assert "Table 'notifications' is not in the models: skipped (--ignore-unknown)." in out


def test_an_unknown_alias_and_an_unreachable_database_are_named_without_password(
    settings, node_file
):
    with pytest.raises(CommandError, match="Unknown database alias 'prod'"):
        run("loaddomain", "--no-input", node_file, "--database", "prod")


@pytest.mark.parametrize("command", ["loaddomain", "dumpdomain"])
def test_the_real_command_line_exits_2_without_a_traceback(tmp_path, command):
    env = {
        **os.environ,
        "DATABASE_URL_BROKEN": "postgres://someone:hunter2@127.0.0.1:9/nowhere?connect_timeout=2",
    }
    args = (
        [str(tmp_path / "missing.json"), "--no-input"]
        if command == "loaddomain"
        else [str(tmp_path / "out.json")]
    )
    if command == "loaddomain":
        (tmp_path / "missing.json").write_text('{"data": {}}')
    result = subprocess.run(
        [sys.executable, "manage.py", command, *args, "--database", "broken"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Cannot connect to database 'broken' (postgresql 127.0.0.1:9/nowhere)" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    "suffix, magic", [(".gz", b"\x1f\x8b"), (".bz2", b"BZh"), (".xz", b"\xfd7zXZ")]
)
def test_the_name_chooses_the_compression_both_ways(node_file, tmp_path, suffix, magic):
    run("loaddomain", "--no-input", node_file)
    path = tmp_path / f"export.json{suffix}"
    run("dumpdomain", str(path))
    assert path.read_bytes().startswith(magic)
    out, _ = run("loaddomain", str(path), "--dry-run")
    assert re.search(r"^total\s+0\s+0\s+0\s+21\s+0\s+0$", out, re.M)


@pytest.mark.parametrize(
    "name, message",
    [
        ("export.zip", "an export's name ends in .json, .json.gz, .json.bz2, .json.xz"),
        ("missing/export.json", "the folder"),
    ],
)
def test_a_name_or_folder_it_cannot_write_is_refused_and_nothing_created(tmp_path, name, message):
    with pytest.raises(CommandError, match=message) as refused:
        run("dumpdomain", str(tmp_path / name))
    assert refused.value.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_output_and_dash_o_together_are_refused(tmp_path):
    with pytest.raises(CommandError, match="OUTPUT or -o/--output, not both"):
        run("dumpdomain", str(tmp_path / "a.json"), "-o", str(tmp_path / "b.json"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["core.AuditLog", "core.auditlog", "auditLogs"])
def test_exclude_takes_a_model_label_as_dumpdata_does(node_file, tmp_path, name):
    run("loaddomain", "--no-input", node_file)
    path = tmp_path / "x.json"
    run("dumpdomain", str(path), "-e", name)
    assert json.loads(path.read_text())["metadata"]["tables"].get("auditLogs", 0) == 0


@pytest.mark.parametrize("command", ["dumpdomain", "loaddomain", "verifydomain"])
def test_an_unknown_table_lists_the_valid_names(command, node_file):
    args = [] if command == "dumpdomain" else [node_file]
    with pytest.raises(
        CommandError,
        match=r"Unknown table\(s\) to exclude: notifications\. "
        r"Valid names: permissions \(core\.Permission\),",
    ):
        run(command, *args, "-e", "notifications")


def test_the_next_step_names_the_target_database_and_a_relative_path(
    settings, tmp_path, node_file, monkeypatch
):
    run("loaddomain", "--no-input", node_file)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    out, _ = run("dumpdomain", "out/x.json")
    assert (
        "Import it with: python manage.py loaddomain out/x.json --database TARGET --dry-run" in out
    )


@pytest.mark.parametrize("compress", [False, True])
def test_dumpdomain_piped_into_loaddomain_dash(make_database, node_file, tmp_path, compress):
    """`dumpdomain - | loaddomain -`, as real processes: standard input is spooled
    privately, then checked and loaded as a file (gzip recognised by its bytes)."""
    source, target = make_database("sqlite"), make_database("sqlite")
    call_command("loaddomain", "--no-input", node_file, "--database", source, stdout=io.StringIO())
    env = {"DATABASE_URL": database_url(source), "DATABASE_URL_TARGET": database_url(target)}
    dump = run_manage("dumpdomain", "-", "-v", "0", env=env)
    assert dump.returncode == 0
    data = gzip.compress(dump.stdout.encode()) if compress else dump.stdout.encode()
    load = subprocess.run(
        [sys.executable, "manage.py", "loaddomain", "--no-input", "-", "--database", "target"],
        input=data,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
    )
    assert load.returncode == 0, load.stderr
    # 19 rows created, the 2 audit logs appended
    assert re.search(rb"^total\s+19\s+2\s+0\s+0\s+0\s+0$", load.stdout, re.M)
    assert b"standard input" in load.stdout


def test_dumpdomain_to_stdout_with_v2_writes_only_the_file_there(node_file):
    run("loaddomain", "--no-input", node_file)
    out, err = run("dumpdomain", "-", "-v", "2")
    assert json.loads(out)["data"]["organizations"][0]["slug"] == "ufhb"
    assert " 2. organizations" in err and "to standard output from database" in err
    out, err = run("dumpdomain", "-", "--plan")
    assert out == "" and " 2. organizations" in err


def run_status(name, *args):
    """Run a command; return (exit status, stdout, the error message or '')."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as error:
        assert "\n" not in str(error)
        return error.returncode, out.getvalue(), str(error)
    return 0, out.getvalue(), ""


def test_conflicts_exit_3_so_that_a_script_tells_them_from_a_clean_import(node_file, tmp_path):
    assert run_status("loaddomain", node_file, "--dry-run")[0] == 0
    Organization.objects.create(
        id="ckprodorg0000000000000001", name="UFHB (prod)", slug="ufhb", type="UNIVERSITE"
    )
    for extra in ([], ["--strict"], ["--dry-run"]):
        status, out, message = run_status("loaddomain", "--no-input", node_file, *extra)
        assert status == 3, extra
        assert "conflict: organizations ckorga0000000000000000001: slug 'ufhb'" in out
        assert re.match(r"\d+ row\(s\) skipped as conflicts", message), message
    failing = json.loads(Path(node_file).read_text(encoding="utf-8"))
    failing["data"]["configurations"][0]["key"] = "k" * 101
    path = tmp_path / "conflict-and-failure.json"
    path.write_text(json.dumps(failing), encoding="utf-8")
    # A failed row outweighs a conflict.
    assert run_status("loaddomain", "--no-input", str(path))[0] == 1
