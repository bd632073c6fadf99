"""What a crash or a kill leaves behind (issue 20): real `manage.py` processes, SIGKILLed in
the middle of their work (held there by another session's lock, or by a standard input
that is not closed yet), then the next command or worker started. Every file such a run
makes is private (0600) from its creation; the next start removes what the killed run
left (spools, copies, `.part` files) and marks its records *interrupted*; a live run's
files and records are never touched; `pruneexports` does it too, and says how many."""

import fcntl
import hashlib
import io
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from datatransfer import leftovers
from datatransfer.files import atomic_file
from datatransfer.import_files import checked_copy
from datatransfer.management.standard_input import file_or_stdin
from datatransfer.models import ExportRecord, ImportRecord
from tests.subprocesses import ROOT, run_manage

pytestmark = pytest.mark.django_db
POSTGRES = connections["platform"].vendor == "postgresql"
GUARD = 60  # seconds: a guard against a test that would wait forever, not a measure


@pytest.fixture
def place(site, tmp_path):
    """The site's environment, with its own system temporary folder (TMPDIR) and work
    folder, to see everything a run leaves, and an export of its data to load. On SQLite,
    a run waits up to 60 s for a lock (the busy timeout), not 5."""
    env = {
        **site,
        "TMPDIR": str(tmp_path / "tmp"),
        "DATATRANSFER_WORK_DIR": str(tmp_path / "work"),
    }
    (tmp_path / "tmp").mkdir()
    Path(site["EXPORTS_DIR"]).mkdir(exist_ok=True)
    if env["DATABASE_URL"].startswith("sqlite:///"):
        env["DATABASE_URL"] += "?timeout=60"
    export = tmp_path / "demo.json"
    result = run_manage("dumpdomain", str(export), env=env)
    assert result.returncode == 0, result.stderr
    env["EXPORT"] = str(export)
    return env


def start(*args, env, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=GUARD)
    assert process.returncode == -signal.SIGKILL


def files_under(*folders) -> list[Path]:
    """Every file (not folder) under `folders`."""
    return sorted(
        Path(root, name)
        for folder in folders
        if Path(folder).exists()
        for root, _, names in os.walk(folder)
        for name in names
    )


def left_behind(env) -> list[Path]:
    """What runs left in the system's temporary folder, the work folder and the exports
    folder (the exports themselves and the kept uploads apart)."""
    found = files_under(env["TMPDIR"], env["DATATRANSFER_WORK_DIR"], env["EXPORTS_DIR"])
    imports = Path(env["EXPORTS_DIR"]) / "imports"
    return [
        path
        for path in found
        if not (path.parent == Path(env["EXPORTS_DIR"]) and path.name.startswith("export-"))
        and not (path.parent == imports and not path.name.startswith("."))
    ]


def wait_for(condition, process, what: str):
    """Poll `condition` until it returns something true; return it. Fails when `process`
    ends first or after the guard."""
    deadline = time.monotonic() + GUARD
    while not (found := condition()):
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {process.stderr.read()!r}")
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def history(env, table: str) -> dict:
    path = env["PROJECT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as database:
        database.row_factory = sqlite3.Row
        rows = database.execute(f"SELECT * FROM datatransfer_{table}").fetchall()
    return {row["id"]: dict(row) for row in rows}


class Blocker:
    """Another session holding the platform database, so that a run waits there: an ACCESS
    EXCLUSIVE lock on PostgreSQL, an exclusive transaction on SQLite."""

    def __init__(self, env, table='"User"'):
        url = env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///").split("?")[0]
            self.connection = sqlite3.connect(path, isolation_level=None)
            self.connection.execute("BEGIN EXCLUSIVE")
        else:
            self.connection = psycopg.connect(url)
            self.connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    def release(self):
        self.connection.rollback()
        self.connection.close()


def feed_part_of(env, process, size=2 << 20):
    """Write `size` bytes to `process`'s standard input, the export then blanks, and leave
    it open: the command waits for the rest, its spool on disk."""
    data = Path(env["EXPORT"]).read_bytes()
    process.stdin.write((data + b" " * size)[:size])
    process.stdin.flush()


def spool_of(env):
    """The file where `loaddomain -` keeps standard input, once half the 1 MiB fed is in it
    (the rest may wait in the spool's buffer)."""
    return [
        path
        for path in files_under(env["TMPDIR"], env["DATATRANSFER_WORK_DIR"])
        if path.stat().st_size >= 1 << 19
    ]


def test_a_killed_loaddomain_of_stdin_leaves_a_private_spool_the_next_run_removes(place):
    process = start("loaddomain", "-", "--dry-run", env=place, stdin=subprocess.PIPE)
    feed_part_of(place, process)
    [spool] = wait_for(lambda: spool_of(place), process, "spooled standard input")
    assert mode(spool) == 0o600
    kill(process)
    assert spool.exists()  # nothing ran to remove it

    result = run_manage("loaddomain", place["EXPORT"], "--dry-run", env=place)
    assert result.returncode == 0, result.stderr
    assert left_behind(place) == []


def test_a_live_loaddomain_of_stdin_keeps_its_spool_through_another_runs_sweep(place):
    process = start("loaddomain", "-", "--dry-run", env=place, stdin=subprocess.PIPE)
    feed_part_of(place, process, size=1 << 20)
    [spool] = wait_for(lambda: spool_of(place), process, "spooled standard input")

    for command in (("loaddomain", place["EXPORT"], "--dry-run"), ("pruneexports",)):
        result = run_manage(*command, env=place)
        assert result.returncode == 0, result.stderr
        assert spool.exists()

    # The rest of the file: the live run goes on, and ends well.
    process.stdin.write(Path(place["EXPORT"]).read_bytes()[1 << 20 :])
    process.stdin.close()
    assert process.wait(timeout=GUARD) == 0, process.stderr.read()
    assert left_behind(place) == []


def part_files(env):
    return sorted(Path(env["EXPORTS_DIR"]).glob(".*.part"))


def test_a_killed_export_leaves_a_private_part_file_and_a_running_record_the_next_run_clears(
    place,
):
    output = Path(place["EXPORTS_DIR"]) / "killed.json"
    blocker = Blocker(place)
    try:
        process = start("dumpdomain", str(output), env=place)
        [part] = wait_for(lambda: part_files(place), process, "made its .part file")
        assert mode(part) == 0o600
        [record] = [r for r in history(place, "exportrecord").values() if r["status"] == "running"]

        # A sweep while it runs: its file and record are left alone.
        result = run_manage("pruneexports", env=place)
        assert result.returncode == 0, result.stderr
        assert part.exists()
        assert history(place, "exportrecord")[record["id"]]["status"] == "running"
        kill(process)
    finally:
        blocker.release()

    result = run_manage("dumpdomain", str(Path(place["EXPORTS_DIR"]) / "next.json"), env=place)
    assert result.returncode == 0, result.stderr
    assert not part.exists() and not output.exists()
    after = history(place, "exportrecord")[record["id"]]
    assert after["status"] == "interrupted"
    assert "killed" in after["error"]
    assert left_behind(place) == [Path(place["EXPORTS_DIR"]) / "next.json"]


def test_pruneexports_removes_what_a_killed_export_left_and_says_how_many(place):
    output = Path(place["EXPORTS_DIR"]) / "killed.tar"
    blocker = Blocker(place)
    try:
        process = start("dumpdomain", "--with-media", str(output), env=place)
        wait_for(lambda: files_under(place["EXPORTS_DIR"]), process, "made its files")
        kill(process)
    finally:
        blocker.release()
    assert left_behind(place) != []

    result = run_manage("pruneexports", "--dry-run", env=place)
    assert result.returncode == 0, result.stderr
    assert "Would remove 1 leftover file(s)" in result.stdout
    assert "would mark 1 run(s) interrupted" in result.stdout
    assert left_behind(place) != []

    result = run_manage("pruneexports", env=place)
    assert result.returncode == 0, result.stderr
    assert "Removed 1 leftover file(s)" in result.stdout
    assert "marked 1 run(s) interrupted" in result.stdout
    assert left_behind(place) == []
    [record] = [r for r in history(place, "exportrecord").values() if r["file_path"] == str(output)]
    assert record["status"] == "interrupted"


QUEUE_IMPORT = """
from pathlib import Path
from django.core.files.uploadedfile import SimpleUploadedFile
from datatransfer.import_files import store_upload
from datatransfer.import_tasks import queue_preview
upload = SimpleUploadedFile("demo.json", Path({path!r}).read_bytes())
record = queue_preview(user=None, stored=store_upload(upload), file_name="demo.json",
                       database="platform")
print(record.pk)
"""


def test_a_killed_worker_leaves_a_private_copy_and_a_running_import_the_next_worker_clears(
    place,
):
    result = run_manage("shell", "-c", QUEUE_IMPORT.format(path=place["EXPORT"]), env=place)
    assert result.returncode == 0, result.stderr
    pk = int(result.stdout.split()[-1])

    size = Path(place["EXPORT"]).stat().st_size

    def copied():
        running = history(place, "importrecord")[pk]["status"] == "running"
        found = files_under(place["TMPDIR"], place["DATATRANSFER_WORK_DIR"])
        return running and [path for path in found if path.stat().st_size == size]

    blocker = Blocker(place)
    try:
        worker = start(
            "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload", env=place
        )
        [copy] = wait_for(copied, worker, "copied the upload")
        assert mode(copy) == 0o600
        kill(worker)
    finally:
        blocker.release()
    assert copy.exists()

    result = run_manage("db_worker", "--batch", "--no-startup-delay", env=place)
    assert result.returncode == 0, result.stderr
    record = history(place, "importrecord")[pk]
    assert record["status"] == "interrupted"
    assert "killed" in record["error"]
    assert left_behind(place) == []


# ---------------------------------------------------------------------------- SIGTERM, SIGHUP

# A supervisor's SIGTERM, or the SIGHUP of a terminal closed (an SSH session dropped): the
# run cleans up as on Ctrl-C, at once, not at the next start's sweep.
STOPS = [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")]


def stop(process: subprocess.Popen, signum) -> str:
    """Send `signum` to `process`; return its stderr once it has ended."""
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=GUARD)
    return stderr.decode()


@pytest.mark.parametrize("signum, status, name", STOPS)
def test_a_stopped_loaddomain_of_stdin_removes_its_spool_at_once(place, signum, status, name):
    process = start("loaddomain", "-", "--dry-run", env=place, stdin=subprocess.PIPE)
    feed_part_of(place, process)
    wait_for(lambda: spool_of(place), process, "spooled standard input")
    stderr = stop(process, signum)
    assert process.returncode == status, stderr
    assert stderr.strip() == (
        f"CommandError: Stopped ({name}): the import was rolled back, nothing was written."
    )
    assert left_behind(place) == []


def test_signals_at_once_stop_loaddomain_in_one_line_and_leave_nothing(place):
    """SIGTERM, SIGINT and SIGHUP together (a supervisor and a closing terminal): the first
    handled stops the run, the others do not cut its cleanup short nor print a traceback
    ("Signal 15 ignored due to race condition")."""
    process = start("loaddomain", "-", "--dry-run", env=place, stdin=subprocess.PIPE)
    feed_part_of(place, process)
    wait_for(lambda: spool_of(place), process, "spooled standard input")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=GUARD)
    stderr = stderr.decode()
    assert process.returncode in (129, 130, 143), stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert "nothing was written" in stderr
    assert left_behind(place) == []


@pytest.mark.skipif(not POSTGRES, reason="SQLite's busy wait holds signals until it ends")
@pytest.mark.parametrize("signum, status, name", STOPS)
def test_a_stopped_export_removes_its_part_file_and_records_interrupted_at_once(
    place, signum, status, name
):
    output = Path(place["EXPORTS_DIR"]) / "stopped.json"
    blocker = Blocker(place)
    try:
        process = start("dumpdomain", str(output), env=place)
        wait_for(lambda: part_files(place), process, "made its .part file")
        stderr = stop(process, signum)
    finally:
        blocker.release()
    assert process.returncode == status, stderr
    assert stderr.strip() == f"CommandError: Stopped ({name}): no file was written."
    assert left_behind(place) == []
    [record] = [r for r in history(place, "exportrecord").values() if r["file_path"] == str(output)]
    assert record["status"] == "interrupted"


@pytest.mark.skipif(not POSTGRES, reason="waits on a table lock of PostgreSQL")
@pytest.mark.parametrize("signum, status, name", STOPS)
def test_a_stopped_verifydomain_says_so_in_one_line(place, signum, status, name):
    from tests.integration.datatransfer.test_interrupts import wait_until_blocked

    blocker = Blocker(place)
    watcher = psycopg.connect(place["DATABASE_URL"], autocommit=True)
    try:
        process = start("verifydomain", place["EXPORT"], "--lock-timeout", "0", env=place)
        wait_until_blocked(process, watcher, watcher.info.dbname)
        stderr = stop(process, signum)
    finally:
        blocker.release()
        watcher.close()
    assert process.returncode == status, stderr
    assert stderr.strip() == f"CommandError: Stopped ({name}): nothing was written."
    assert left_behind(place) == []


# ---------------------------------------------------------------------------- in this process


@pytest.fixture
def work(settings, tmp_path):
    settings.DATATRANSFER_WORK_DIR = tmp_path / "work"
    return settings.DATATRANSFER_WORK_DIR


def test_spools_copies_and_part_files_are_private_and_named_for_the_sweep(work, tmp_path):
    with file_or_stdin("-", stdin=io.BytesIO(b'{"metadata": {}}')) as name:
        spool = Path(name)
        assert mode(spool) == 0o600 and mode(spool.parent) == 0o700
        assert spool.is_relative_to(work / leftovers.owner())
    assert not spool.exists()

    kept = tmp_path / "kept.json"
    kept.write_bytes(b"{}")
    with checked_copy(kept, hashlib.sha256(b"{}").hexdigest()) as copy:
        assert mode(copy) == 0o600 and copy.is_relative_to(work / leftovers.owner())

    with atomic_file(tmp_path / "out.json") as file:
        [part] = tmp_path.glob(".out.json.*.part")
        assert mode(part) == 0o600 and f".{leftovers.owner()}." in part.name
        file.write(b"{}")
    assert mode(tmp_path / "out.json") == 0o600


def a_run(work, token, journaled=()):
    """The lock file of a run `token` (ended: nobody holds its lock), its work folder with
    a spool, and its journal naming `journaled` prefixes."""
    work.mkdir(exist_ok=True)
    (work / f"{token}.lock").write_bytes(b"".join(os.fsencode(p) + b"\0" for p in journaled))
    (work / token / "stdin-x").mkdir(parents=True)
    (work / token / "stdin-x" / "stdin").write_bytes(b"{}")


def a_record(model, owner, **fields):
    return model.objects.create(
        status=model.Status.RUNNING,
        owner=owner,
        started_at=timezone.now(),
        database="platform",
        **fields,
    )


def test_the_sweep_clears_ended_runs_only(work, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    ended, live = "dt1-0123abcd", "dt2-4567cdef"
    a_run(work, ended, [f"{exports}/.a.json.{ended}.", f"{exports}/.a.json."])
    a_run(work, live, [f"{exports}/.b.json.{live}."])
    (exports / f".a.json.{ended}.x1.part").write_bytes(b"{}")
    (exports / f".b.json.{live}.x2.part").write_bytes(b"{}")
    users = [exports / ".a.json.x3.part", exports / "a.json"]  # never a sweep's
    for path in users:
        path.write_bytes(b"{}")
    upload = {"file_name": "a.json", "file_path": "a", "file_size": 2, "checksum": "0" * 64}
    records = [
        a_record(ExportRecord, ended),
        a_record(ImportRecord, ended, **upload),
        a_record(ExportRecord, live),
        a_record(ExportRecord, ""),  # a run that no process claims: left alone
    ]
    with open(work / f"{live}.lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the live run's lock, as its process holds it

        assert leftovers.sweep(dry_run=True) == leftovers.Swept(files=2, records=2)
        assert (work / ended).exists()
        assert leftovers.sweep() == leftovers.Swept(files=2, records=2)

        assert not (work / ended).exists() and not (work / f"{ended}.lock").exists()
        assert sorted(exports.iterdir()) == sorted([*users, exports / f".b.json.{live}.x2.part"])
        assert (work / live / "stdin-x" / "stdin").exists()
        statuses = [type(r).objects.get(pk=r.pk).status for r in records]
        assert statuses == ["interrupted", "interrupted", "running", "running"]
        assert leftovers.KILLED == ExportRecord.objects.get(pk=records[0].pk).error
        assert leftovers.sweep() == leftovers.Swept()

    assert leftovers.sweep() == leftovers.Swept(files=2, records=1)  # it has ended too


def test_a_lock_file_being_made_is_swept_only_once_its_process_has_ended(work):
    work.mkdir()
    (work / ".new-ended").write_bytes(b"")
    with open(work / ".new-live", "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        leftovers.sweep()
        assert sorted(path.name for path in work.iterdir()) == [".new-live"]
