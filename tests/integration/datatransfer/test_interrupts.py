"""Ctrl-C and locks held by other sessions: one line, a known exit status, nothing written,
never a traceback, never a wait without end."""

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connections

import datatransfer.exporter as exporter
import datatransfer.media as media
from datatransfer.models import ExportRecord
from tests.engine_names import WRITER_NAMES, writer_class
from tests.integration.datatransfer.test_safety import (
    NODE_FILE,
    ROOT,
    _waiting_on_lock,
    database_url,
    manage,
)
from tests.snapshots import database_snapshot

IMPORT_INTERRUPTED = "Interrupted (Ctrl-C): the import was rolled back, nothing was written."


def connect(alias, **options):
    config = connections.settings[alias]
    return psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=config["NAME"],
        **options,
    )


def wait_until_blocked(process, watcher, name):
    """Wait until the subprocess waits on a lock in database `name`."""
    deadline = time.monotonic() + 60
    while not _waiting_on_lock(watcher, name):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never reached the locked table"
        time.sleep(0.05)


def assert_one_line(stderr, *expected):
    """One line of error. `dumpdomain -` also writes its start line, naming the database it
    reads (`Exporting to standard output from database ...`), on stderr: not an error."""
    assert "Traceback" not in stderr, stderr
    lines = [
        line
        for line in stderr.strip().splitlines()
        if not line.startswith("Exporting to standard output from database ")
    ]
    assert len(lines) == 1, stderr
    for text in expected:
        assert text in lines[0], stderr


def history_record(path):
    """(status, error) of the export history's record for the file `path`, as the
    subprocesses of the test session record it (tests/conftest.py)."""
    database = urlsplit(os.environ["PROJECT_DATABASE_URL"]).path
    with sqlite3.connect(database) as history:
        return history.execute(
            "SELECT status, error FROM datatransfer_exportrecord WHERE file_path = ?",
            [str(path)],
        ).fetchone()


class Interrupt:
    """Raises KeyboardInterrupt, as Ctrl-C does, at the `after`-th call of the wrapped
    function."""

    def __init__(self, real, after=1):
        self.real, self.after, self.calls = real, after, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls >= self.after:
            raise KeyboardInterrupt
        return self.real(*args, **kwargs)


def interrupted(*args) -> CommandError:
    """Run a command that gets a Ctrl-C; return the CommandError it ends with. A
    KeyboardInterrupt escaping the command fails the test (rather than stopping pytest)."""
    try:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError as error:
        return error
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped the command (a traceback on the command line)")
    pytest.fail("the command ended normally")


@pytest.fixture
def changed_file(tmp_path):
    """The Node.js file with one organization renamed: an import of it writes."""
    path = tmp_path / "changed.json"
    text = NODE_FILE.read_text(encoding="utf-8")
    assert "Université" in text
    path.write_text(text.replace("Université", "Universite"), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- Ctrl-C


@pytest.mark.django_db
@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_ctrl_c_during_an_import_rolls_back_and_exits_130_in_one_line(
    monkeypatch, node_file, changed_file, written_by
):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    before = database_snapshot("platform")
    # Half-way: at the fourth table, once the organization is renamed.
    writer = writer_class(written_by)
    monkeypatch.setattr(writer, "load_table", _interrupted_at(writer, 4))
    error = interrupted("loaddomain", "--no-input", str(changed_file))
    assert error.returncode == 130
    assert str(error) == IMPORT_INTERRUPTED
    assert database_snapshot("platform") == before


def _interrupted_at(writer_class, after):
    """The writer's load_table, raising KeyboardInterrupt at the `after`-th table."""
    real, calls = writer_class.load_table, []

    def load_table(self, table, raw_rows, on_rows=None):
        calls.append(table.key)
        if len(calls) == after:
            raise KeyboardInterrupt
        return real(self, table, raw_rows, on_rows)

    return load_table


@pytest.mark.django_db
def test_ctrl_c_during_an_export_leaves_no_file_and_is_recorded_as_interrupted(
    monkeypatch, node_file, tmp_path
):
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    interrupt = Interrupt(exporter._table_rows, after=5)
    monkeypatch.setattr(exporter, "_table_rows", interrupt)
    output = tmp_path / "out" / "x.json"
    output.parent.mkdir()
    error = interrupted("dumpdomain", str(output))
    assert error.returncode == 130
    assert str(error) == "Interrupted (Ctrl-C): no file was written."
    assert list(output.parent.iterdir()) == []
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.INTERRUPTED == "interrupted"
    assert record.error == "Interrupted (Ctrl-C)." and record.duration is not None


def _sigterm_now(*args, **kwargs):
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler), "loaddomain does not handle SIGTERM"
    handler(signal.SIGTERM, None)


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["ctrl-c", "sigterm"])
def test_a_stop_while_an_archives_files_are_written_says_the_database_is_committed(
    monkeypatch, settings, node_file, tmp_path, sent
):
    """Ctrl-C or SIGTERM after the database committed: loaddomain must not say it rolled
    back."""
    settings.MEDIA_ROOT = tmp_path / "media"
    (settings.MEDIA_ROOT / "docs").mkdir(parents=True)
    (settings.MEDIA_ROOT / "docs" / "a.pdf").write_bytes(b"%PDF-1.4 a")
    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    from core.models import DocumentPartage

    DocumentPartage.objects.update(file_path="docs/a.pdf")
    archive = tmp_path / "x.tar"
    call_command("dumpdomain", str(archive), "--with-media", "-v", "0")
    settings.MEDIA_ROOT = tmp_path / "elsewhere"
    if sent == "ctrl-c":
        monkeypatch.setattr(media, "_restore", Interrupt(media._restore))
        error = interrupted("loaddomain", "--no-input", str(archive))
        assert error.returncode == 130
    else:
        monkeypatch.setattr(media, "_restore", _sigterm_now)
        with pytest.raises(CommandError) as raised:
            call_command(
                "loaddomain", "--no-input", str(archive), stdout=io.StringIO(), stderr=io.StringIO()
            )
        error = raised.value
        assert error.returncode == 143
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    message = str(error)
    assert "\n" not in message and "the database import is committed" in message
    assert not (tmp_path / "elsewhere" / "docs" / "a.pdf").exists()


@pytest.mark.django_db
def test_ctrl_c_during_verifydomain_exits_130_in_one_line(monkeypatch, node_file):
    import datatransfer.verifier as verifier

    call_command("loaddomain", "--no-input", node_file, "-v", "0")
    monkeypatch.setattr(
        verifier._TableVerifier, "run", lambda self, rows: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    error = interrupted("verifydomain", node_file)
    assert error.returncode == 130
    assert str(error) == "Interrupted (Ctrl-C): nothing was written."


@pytest.mark.e2e
def test_sigint_to_a_real_import_waiting_on_a_lock(make_database, changed_file):
    """A real process and a real SIGINT: the import is stopped half-way (it has written
    every table before auditLogs, which another session holds), rolls back, says so in one
    line and exits 130."""
    target = make_database("postgresql")
    call_command(
        "loaddomain", "--no-input", str(NODE_FILE), "--database", target, "--skip-audit", "-v", "0"
    )
    before = database_snapshot(target)
    connections[target].close()
    blocker = connect(target)
    blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
    watcher = connect(target, autocommit=True)
    process = manage(
        "loaddomain",
        "--no-input",
        str(changed_file),
        "--database",
        "intr",
        env_aliases={"intr": database_url(target)},
    )
    try:
        wait_until_blocked(process, watcher, connections.settings[target]["NAME"])
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        blocker.close()
        watcher.close()
    assert process.returncode == 130, stderr
    assert_one_line(stderr, IMPORT_INTERRUPTED)
    assert database_snapshot(target) == before


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sent", "status", "line", "recorded"),
    [
        (signal.SIGINT, 130, "Interrupted (Ctrl-C): no file was written.", "Interrupted (Ctrl-C)."),
        (
            signal.SIGTERM,
            143,
            "Stopped (SIGTERM): no file was written.",
            "Interrupted: the process running the export was stopped.",
        ),
    ],
    ids=["sigint", "sigterm"],
)
def test_a_signal_to_a_real_export_is_one_line_and_recorded(
    make_database, tmp_path, sent, status, line, recorded
):
    """A real process and a real signal while the export waits on another session's lock
    (--lock-timeout 0: it would wait as long as it takes): one line, its exit status, the
    `.part` file gone, the record interrupted."""
    source = make_database("postgresql")
    call_command("loaddomain", "--no-input", str(NODE_FILE), "--database", source, "-v", "0")
    connections[source].close()
    folder = tmp_path / "out"
    folder.mkdir()
    # Another session holds the last table, so the export is surely half-way when Ctrl-C comes.
    blocker = connect(source)
    blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
    watcher = connect(source, autocommit=True)
    output = folder / "x.json"
    process = manage(
        "dumpdomain",
        str(output),
        "--database",
        "src",
        "--lock-timeout",
        "0",
        env_aliases={"src": database_url(source)},
    )
    try:
        wait_until_blocked(process, watcher, connections.settings[source]["NAME"])
        assert [path.suffix for path in folder.iterdir()] == [".part"]
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        blocker.close()
        watcher.close()
    assert process.returncode == status, stderr
    assert_one_line(stderr, line)
    assert list(folder.iterdir()) == []
    assert history_record(output) == ("interrupted", recorded)


# ---------------------------------------------------------------------------- locks of others


@contextlib.contextmanager
def held(alias, statement, *, release_after=15):
    """Another session running `statement` (a lock) in an open transaction, released when
    the block ends, or after `release_after` seconds at the latest: an import that would
    wait without end then goes on, and the test fails instead of hanging."""
    blocker = connect(alias)
    blocker.execute(statement)
    timer = threading.Timer(release_after, blocker.rollback)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        blocker.close()


def load_while_locked(target, path, statement, *args):
    """(CommandError, seconds it took) of a loaddomain of `path` into `target` while another
    session holds `statement`'s lock."""
    connections[target].close()
    with held(target, statement):
        started = time.monotonic()
        try:
            call_command(
                "loaddomain",
                "--no-input",
                str(path),
                "--database",
                target,
                *args,
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        except CommandError as error:
            return error, time.monotonic() - started
    pytest.fail(f"the import went through after {time.monotonic() - started:.1f} s")


@pytest.fixture
def loaded_target(make_database):
    target = make_database("postgresql")
    call_command("loaddomain", "--no-input", str(NODE_FILE), "--database", target, "-v", "0")
    return target


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_table_locked_by_another_session_fails_after_the_lock_timeout(
    loaded_target, changed_file, written_by
):
    before = database_snapshot(loaded_target)
    error, seconds = load_while_locked(
        loaded_target,
        changed_file,
        'LOCK TABLE "Configuration" IN ACCESS EXCLUSIVE MODE',
        "--lock-timeout",
        "1",
    )
    assert seconds < 10
    assert error.returncode == 2
    message = str(error)
    assert "\n" not in message
    assert message == (
        f"Database '{loaded_target}': another session held a lock that loading configurations "
        "needed for more than 1 s: the import was rolled back, nothing was written (run it "
        "again later, or wait longer with --lock-timeout SECONDS)."  # the command's hint
    ), message
    assert database_snapshot(loaded_target) == before


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_row_locked_by_another_session_is_not_a_failed_row_but_the_same_error(
    loaded_target, changed_file, written_by
):
    before = database_snapshot(loaded_target)
    error, seconds = load_while_locked(
        loaded_target,
        changed_file,
        'SELECT * FROM "Organization" FOR UPDATE',
        "--lock-timeout",
        "0.5",
    )
    assert seconds < 10 and error.returncode == 2
    assert "another session held a lock that loading organizations needed for more than 0.5 s" in (
        str(error)
    )
    assert database_snapshot(loaded_target) == before


def test_the_lock_timeout_defaults_to_the_setting(settings, loaded_target, changed_file):
    settings.DATATRANSFER_LOCK_TIMEOUT = 1
    error, seconds = load_while_locked(
        loaded_target, changed_file, 'LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE'
    )
    assert seconds < 10 and error.returncode == 2
    assert "loading auditLogs needed for more than 1 s" in str(error)


def test_a_lock_timeout_of_0_waits_as_long_as_it_takes(loaded_target, changed_file):
    connections[loaded_target].close()
    with held(loaded_target, 'LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE', release_after=3):
        started = time.monotonic()
        call_command(
            "loaddomain",
            "--no-input",
            str(changed_file),
            "--database",
            loaded_target,
            "--lock-timeout",
            "0",
            stdout=io.StringIO(),
        )
    assert time.monotonic() - started >= 2.5


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_bad_lock_timeout_is_refused_in_one_line(value, node_file):
    with pytest.raises(CommandError) as raised:
        call_command(
            "loaddomain", "--no-input", node_file, "--lock-timeout", value, stdout=io.StringIO()
        )
    assert str(raised.value) == (
        f"Error: argument --lock-timeout: '{value}' is not a number of seconds, 0 or more"
    )


@pytest.mark.e2e
@pytest.mark.parametrize(("environment", "expected"), [(None, "30.0"), ("2.5", "2.5")])
def test_the_setting_comes_from_the_environment(environment, expected):
    env = {key: value for key, value in os.environ.items() if key != "DATATRANSFER_LOCK_TIMEOUT"}
    if environment is not None:
        env["DATATRANSFER_LOCK_TIMEOUT"] = environment
    code = "from django.conf import settings; print(settings.DATATRANSFER_LOCK_TIMEOUT)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short():
    from datatransfer.management.interrupts import ctrl_c

    cleaned = []
    with pytest.raises(CommandError) as raised:
        with ctrl_c("Interrupted."):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # interrupted at once
            finally:
                os.kill(os.getpid(), signal.SIGINT)  # impatient: ignored while cleaning up
                time.sleep(0.2)
                cleaned.append(True)
    assert cleaned == [True]
    assert raised.value.returncode == 130 and str(raised.value) == "Interrupted."
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_wait_still_queues_behind_another_import_beyond_the_lock_timeout(
    settings, loaded_target, node_file
):
    from datatransfer.locking import LOCK_KEY

    settings.DATATRANSFER_LOCK_TIMEOUT = 0.5
    connections[loaded_target].close()
    with held(loaded_target, f"SELECT pg_advisory_xact_lock({LOCK_KEY})", release_after=2):
        started = time.monotonic()
        call_command(
            "loaddomain",
            "--no-input",
            node_file,
            "--database",
            loaded_target,
            "--wait",
            stdout=io.StringIO(),
        )
    assert time.monotonic() - started >= 1.5


# ---------------------------------------------------------------------------- closed pipe


@pytest.mark.django_db
def test_a_closed_pipe_ends_quietly_with_141_and_is_recorded_interrupted(site):
    """`dumpdomain - | head -c 100` through a real pipe: the reader takes 100 bytes and
    closes it; the export stops with no message (its start line aside), no traceback, no
    "Exception ignored" at exit, exit status 141 (128 + SIGPIPE), and its history record
    says interrupted, not failed."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dumpdomain", "-"],
        cwd=ROOT,
        env={**os.environ, **site},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        head = process.stdout.read(100)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert head.startswith(b'{\n  "metadata": {')
    assert process.returncode == 141, stderr
    # Nothing but the start line, naming the database read (written before the pipe closed).
    vendor = connections["platform"].vendor  # the site's database is of the same vendor
    assert stderr.startswith(f"Exporting to standard output from database 'platform' ({vendor} ")
    assert len(stderr.splitlines()) == 1
    with sqlite3.connect(urlsplit(site["PROJECT_DATABASE_URL"]).path) as history:
        rows = history.execute("SELECT status, error, file_path FROM datatransfer_exportrecord")
        assert rows.fetchall() == [
            (
                "interrupted",
                "Stopped: the reader closed the pipe; what went to stdout is incomplete.",
                "-",
            )
        ]
