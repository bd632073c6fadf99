"""An export that cannot go on ends, promptly and honestly (issue 20, points 2 and 9).

A write error (a full disk, a file size limit, a closed pipe, any raise from the writer)
ends the export in one line with a non-zero status, the server's COPY closed, no `.part`
file left and the history record failed; a lock held by another session ends `dumpdomain`
and `verifydomain` after the lock timeout, as it ends `loaddomain`; SIGTERM ends an export
as Ctrl-C does: no file, its record interrupted. The worker goes on to its next job.

The hangs these guard against were waits without end: the subprocesses run under a
generous timeout, so that a regression fails instead of hanging the suite.
"""

import errno
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from datatransfer.formats.json.writer import ExportWriter
from datatransfer.models import ExportRecord
from datatransfer.tasks import queue_export
from tests.integration.datatransfer.test_interrupts import assert_one_line, held
from tests.integration.datatransfer.test_safety import NODE_FILE, ROOT

# 200 blocks of 1 KiB: far less than the demo data's export at scale 1 (about 700 KB).
FILE_SIZE_LIMIT = 200
GUARD = 120  # seconds: a wait without end fails the test rather than hanging the suite
LOCK_HINT = " (run it again later, or wait longer with --lock-timeout SECONDS)."
STOPPED = "Interrupted: the process running the export was stopped."

postgresql_only = pytest.mark.skipif(
    connections["platform"].vendor != "postgresql", reason="a table lock of PostgreSQL"
)


def limited(*args, env, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` with files limited to FILE_SIZE_LIMIT KiB (`ulimit -f`): a
    write beyond fails with EFBIG (Python ignores SIGXFSZ), as on a full disk."""
    return subprocess.run(
        [
            "bash",
            "-c",
            f'ulimit -f {FILE_SIZE_LIMIT}; exec "$@"',
            "bash",
            sys.executable,
            "manage.py",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=GUARD,
    )


def exports_of(site) -> dict:
    """{id: (status, error)} of the site's export history."""
    with sqlite3.connect(urlsplit(site["PROJECT_DATABASE_URL"]).path) as history:
        rows = history.execute("SELECT id, status, error FROM datatransfer_exportrecord")
        return {pk: (status, error) for pk, status, error in rows}


def failing_writer(error, after=3):
    """ExportWriter.write_row raising `error` at its `after`-th call (a disk full half-way,
    a pipe closed, a Ctrl-C), once."""
    real, calls = ExportWriter.write_row, []

    def write_row(writer, row):
        calls.append(row)
        if len(calls) == after:
            raise error
        return real(writer, row)

    return write_row


def assert_connection_usable(alias="platform"):
    """The export's connection is free: its COPY was closed, not left waiting on it."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


# ---------------------------------------------------------------------------- write errors


@pytest.mark.django_db
def test_a_file_size_limit_ends_the_export_in_one_line_and_leaves_nothing(site):
    """`ulimit -f 200; dumpdomain FILE`: it waited without end on PostgreSQL (the rollback
    behind the COPY the failed write left open)."""
    folder = Path(site["EXPORTS_DIR"])
    folder.mkdir(exist_ok=True)
    for name in ("x.json", "x.json.gz"):
        result = limited("dumpdomain", str(folder / name), env=site)
        assert result.returncode == 2, result.stderr
        assert_one_line(result.stderr, "Cannot write", "File too large.")
        assert list(folder.iterdir()) == []  # no file, no `.part`
    exports = exports_of(site).values()
    assert [status for status, _ in exports] == ["failed", "failed"]
    assert all(error.endswith(": File too large.") for _, error in exports)


@pytest.mark.django_db
def test_a_file_size_limit_with_the_data_on_stdout_ends_in_one_line(site):
    """`ulimit -f 200; dumpdomain - | wc -c`: the rows wait in a temporary file before
    they go to stdout, and that file met the limit; nothing went to stdout."""
    result = limited("dumpdomain", "-", env=site)
    assert result.returncode == 2, result.stderr
    assert_one_line(result.stderr, "File too large.", "temporary file")
    assert result.stdout == ""
    [(status, error)] = exports_of(site).values()
    assert status == "failed" and "File too large" in error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device."),
        (OSError(errno.EFBIG, os.strerror(errno.EFBIG)), "File too large."),
        (BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)), "Broken pipe."),
    ],
    ids=["ENOSPC", "EFBIG", "EPIPE"],
)
def test_a_write_error_half_way_ends_the_export_and_frees_the_connection(
    monkeypatch, node_file, tmp_path, error, message
):
    """A fault in the writer in the middle of a table (read by the server's COPY on
    PostgreSQL): one line, exit 2, no file, the record failed, the connection free."""
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(ExportWriter, "write_row", failing_writer(error))
    output = tmp_path / "out" / "x.json"
    output.parent.mkdir()
    with pytest.raises(CommandError) as raised:
        call_command("dumpdomain", str(output), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 2
    assert str(raised.value) == f"Cannot write {output}: {message}"
    assert list(output.parent.iterdir()) == []
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.FAILED
    assert record.error == f"Cannot write {output}: {message}"
    assert_connection_usable()


@pytest.mark.django_db
def test_a_closed_pipe_half_way_is_141_and_frees_the_connection(monkeypatch, node_file):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(ExportWriter, "write_row", failing_writer(BrokenPipeError(errno.EPIPE)))
    with pytest.raises(SystemExit) as raised:
        call_command("dumpdomain", "-", stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.code == 141
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.INTERRUPTED
    assert_connection_usable()


@pytest.mark.django_db
def test_a_ctrl_c_half_way_through_a_table_frees_the_connection(monkeypatch, node_file, tmp_path):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(ExportWriter, "write_row", failing_writer(KeyboardInterrupt()))
    output = tmp_path / "x.json"
    with pytest.raises(CommandError) as raised:
        call_command("dumpdomain", str(output), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 130
    assert list(tmp_path.iterdir()) == []
    assert ExportRecord.objects.get().status == ExportRecord.Status.INTERRUPTED
    assert_connection_usable()


@pytest.mark.django_db
def test_a_bug_in_the_writer_is_raised_and_recorded_not_waited_on(monkeypatch, node_file, tmp_path):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(ExportWriter, "write_row", failing_writer(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        call_command("dumpdomain", str(tmp_path / "x.json"), stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == []
    record = ExportRecord.objects.get()
    assert (record.status, record.error) == (ExportRecord.Status.FAILED, "a bug")
    assert_connection_usable()


# ---------------------------------------------------------------------------- the worker


@pytest.mark.django_db
def test_the_worker_records_a_write_error_failed_and_runs_the_next_export(
    monkeypatch, settings, tmp_path, run_worker
):
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_DIR.mkdir()
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(ExportWriter, "write_row", failing_writer(error, after=100))
    first, second = queue_export(user=None), queue_export(user=None)
    assert run_worker() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ExportRecord.Status.FAILED
    assert first.error.endswith(": No space left on device.")
    assert second.status == ExportRecord.Status.SUCCEEDED
    assert [path.name for path in settings.EXPORTS_DIR.iterdir()] == [second.file_name]
    assert_connection_usable()


@pytest.mark.django_db
def test_the_real_worker_under_a_file_size_limit_fails_each_export_and_goes_on(site):
    """`ulimit -f 200; db_worker --batch` with two exports queued: both fail in one line
    (neither waits without end), the worker runs both and exits, nothing is left."""
    code = (
        "from datatransfer.tasks import queue_export as q; [print(q(user=None).pk) for _ in 'ab']"
    )
    queued = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **site},
        capture_output=True,
        text=True,
        check=True,
    )
    assert queued.stdout.split()[-2:] == ["1", "2"]
    result = limited("db_worker", "--batch", "--no-startup-delay", env=site)
    assert result.returncode == 0, result.stderr
    exports = exports_of(site)
    assert len(exports) == 2
    for status, error in exports.values():
        assert status == "failed" and error.endswith(": File too large."), error
    assert list(Path(site["EXPORTS_DIR"]).iterdir()) == []


# ---------------------------------------------------------------------------- lock timeout


@pytest.fixture
def locked_source(make_database):
    """A PostgreSQL database with the Node.js file's rows, not held by this process."""
    source = make_database("postgresql")
    call_command("loaddomain", "--no-input", str(NODE_FILE), "--database", source, "-v", "0")
    connections[source].close()
    return source


def while_locked(alias, *args):
    """(CommandError, seconds) of a command run while another session holds AuditLog."""
    with held(alias, 'LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE'):
        started = time.monotonic()
        try:
            call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
        except CommandError as error:
            return error, time.monotonic() - started
    pytest.fail(f"the command went through after {time.monotonic() - started:.1f} s")


@pytest.mark.django_db
def test_dumpdomain_gives_up_after_the_lock_timeout(locked_source, tmp_path):
    output = tmp_path / "x.json"
    error, seconds = while_locked(
        locked_source, "dumpdomain", str(output), "--database", locked_source, "--lock-timeout", "1"
    )
    assert seconds < 10 and error.returncode == 2
    assert str(error) == (
        f"Database '{locked_source}': another session held a lock that reading auditLogs "
        f"needed for more than 1 s: the export was stopped, nothing was written{LOCK_HINT}"
    )
    assert list(tmp_path.iterdir()) == []
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.FAILED
    assert record.error.startswith(f"Database '{locked_source}': another session held a lock")


@pytest.mark.django_db
def test_dumpdomain_s_lock_timeout_defaults_to_the_setting(settings, locked_source, tmp_path):
    settings.DATATRANSFER_LOCK_TIMEOUT = 1
    error, seconds = while_locked(
        locked_source, "dumpdomain", str(tmp_path / "x.json"), "--database", locked_source
    )
    assert seconds < 10 and error.returncode == 2
    assert "reading auditLogs needed for more than 1 s: the export was stopped" in str(error)


@pytest.mark.django_db
def test_dumpdomain_with_a_lock_timeout_of_0_waits_as_long_as_it_takes(locked_source, tmp_path):
    output = tmp_path / "x.json"
    lock = 'LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE'
    with held(locked_source, lock, release_after=3):
        started = time.monotonic()
        call_command(
            "dumpdomain",
            str(output),
            "--database",
            locked_source,
            "--lock-timeout",
            "0",
            stdout=io.StringIO(),
        )
    assert time.monotonic() - started >= 2.5
    assert output.is_file()


@pytest.mark.django_db
def test_verifydomain_gives_up_after_the_lock_timeout(locked_source):
    error, seconds = while_locked(
        locked_source,
        "verifydomain",
        str(NODE_FILE),
        "--database",
        locked_source,
        "--lock-timeout",
        "1",
    )
    assert seconds < 10 and error.returncode == 2
    assert str(error) == (
        f"Database '{locked_source}': another session held a lock that reading auditLogs "
        f"needed for more than 1 s: the comparison was stopped{LOCK_HINT}"
    )


@pytest.mark.django_db
def test_verifydomain_s_lock_timeout_defaults_to_the_setting(settings, locked_source):
    settings.DATATRANSFER_LOCK_TIMEOUT = 1
    error, seconds = while_locked(
        locked_source, "verifydomain", str(NODE_FILE), "--database", locked_source
    )
    assert seconds < 10 and error.returncode == 2
    assert "reading auditLogs needed for more than 1 s: the comparison was stopped" in str(error)


@pytest.mark.parametrize("command", ["dumpdomain", "verifydomain"])
@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_bad_lock_timeout_is_refused_in_one_line_as_loaddomain_does(command, value):
    with pytest.raises(CommandError) as raised:
        call_command(command, str(NODE_FILE), "--lock-timeout", value, stdout=io.StringIO())
    assert str(raised.value) == (
        f"Error: argument --lock-timeout: '{value}' is not a number of seconds, 0 or more"
    )


@pytest.mark.django_db
@postgresql_only
def test_the_worker_s_export_gives_up_after_the_lock_timeout(site):
    from tests.integration.datatransfer.test_worker import queue, records

    site = {**site, "DATATRANSFER_LOCK_TIMEOUT": "1"}
    pk = queue(site)
    with psycopg.connect(site["DATABASE_URL"]) as blocker:
        blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
        result = subprocess.run(
            [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],
            cwd=ROOT,
            env={**os.environ, **site},
            capture_output=True,
            text=True,
            timeout=GUARD,
        )
    assert result.returncode == 0, result.stderr
    record = records(site)["exports"][pk]
    assert record["status"] == "failed"
    assert "reading auditLogs needed for more than 1 s: the export was stopped" in record["error"]
    assert list(Path(site["EXPORTS_DIR"]).iterdir()) == []


# ---------------------------------------------------------------------------- SIGTERM


def terminating_writer(after=3):
    """ExportWriter.write_row delivering SIGTERM to this process at its `after`-th call, as
    the signal would: the handler the command installed is called (none installed, the
    test fails rather than pytest being killed)."""
    real, calls = ExportWriter.write_row, []

    def write_row(writer, row):
        calls.append(row)
        if len(calls) == after:
            handler = signal.getsignal(signal.SIGTERM)
            assert callable(handler), "dumpdomain does not handle SIGTERM"
            handler(signal.SIGTERM, None)
        return real(writer, row)

    return write_row


@pytest.mark.django_db
def test_sigterm_half_way_removes_the_part_file_and_records_interrupted(
    monkeypatch, node_file, tmp_path
):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(ExportWriter, "write_row", terminating_writer())
    output = tmp_path / "x.json"
    with pytest.raises(CommandError) as raised:
        call_command("dumpdomain", str(output), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 143
    assert str(raised.value) == "Stopped (SIGTERM): no file was written."
    assert list(tmp_path.iterdir()) == []
    record = ExportRecord.objects.get()
    assert (record.status, record.error) == (ExportRecord.Status.INTERRUPTED, STOPPED)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    assert_connection_usable()


# A real SIGTERM to a real export waiting on a lock: test_interrupts.py,
# test_a_signal_to_a_real_export_is_one_line_and_recorded.
