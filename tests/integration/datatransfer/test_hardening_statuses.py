"""Tracebacks and dishonest statuses (issue 20, point 7): standard input that cannot be
spooled, or is not an export, or is too large, is refused in one line with the status of a
file problem and nothing left behind; `migrate` on a database it cannot reach is one line;
a worker stopped in the middle of an import records it interrupted."""

import io
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connections

from datatransfer.exceptions import EXIT_REFUSED
from datatransfer.import_files import store_upload
from datatransfer.import_tasks import queue_preview, run_import
from datatransfer.models import ImportRecord
from tests.integration.datatransfer.test_safety import _waiting_on_lock
from tests.subprocesses import ROOT, database_url, free_port, run_manage, running_manage

pytestmark = pytest.mark.django_db
MiB = 1 << 20


class Endless(io.RawIOBase):
    """`size` bytes of standard input: `start`, then `fill` repeated; counts what is read."""

    def __init__(self, start: bytes, fill: bytes, size: int):
        self.data, self.fill, self.left, self.read_bytes = start, fill, size, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), self.left)
        while len(self.data) < count:
            self.data += self.fill * (count // len(self.fill) + 1)
        buffer[:count], self.data = self.data[:count], self.data[count:]
        self.left -= count
        self.read_bytes += count
        return count


@pytest.fixture
def spool_dir(tmp_path, settings):
    """The work folder `loaddomain -` spools to (DATATRANSFER_WORK_DIR)."""
    folder = tmp_path / "work"
    folder.mkdir()
    settings.DATATRANSFER_WORK_DIR = folder
    return folder


def spooled(folder) -> list:
    """The files under `folder` but the processes' lock files: what a spool left."""
    return [p for p in Path(folder).rglob("*") if p.is_file() and p.suffix != ".lock"]


def load_stdin(stream) -> CommandError:
    with pytest.raises(CommandError) as refused:
        call_command(
            "loaddomain",
            "--no-input",
            "-",
            stdin=stream,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    return refused.value


@pytest.mark.parametrize(
    ("start", "fill", "message"),
    [
        (b"\0", b"\0", "Standard input holds binary data (NUL bytes), not JSON text"),
        (b"hello ", b"world ", "Standard input is not JSON"),
        (b"\xff\xfe{\0", b"\0", "Standard input is UTF-16 text"),
    ],
    ids=["zeros", "text", "utf-16"],
)
def test_standard_input_that_is_no_export_is_refused_before_it_is_spooled(
    spool_dir, start, fill, message
):
    stream = Endless(start, fill, 300 * MiB)
    error = load_stdin(io.BufferedReader(stream))
    assert error.returncode == EXIT_REFUSED
    assert message in str(error) and "\n" not in str(error)
    assert stream.read_bytes <= 64 * 1024  # its first bytes only, not 300 MiB
    assert spooled(spool_dir) == []


@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip"])
def test_a_refusal_of_standard_input_names_it_not_its_spool(spool_dir, compress):
    """The spool is gone once the command ends: its path means nothing to the user."""
    import gzip

    data = b'{"metadata": {"version": "2.0"}, "data": {"x": ' + b"9" * 200_000 + b"}}"
    error = load_stdin(io.BytesIO(gzip.compress(data) if compress else data))
    assert error.returncode == EXIT_REFUSED
    assert str(error).startswith("standard input: the number at byte "), str(error)
    assert str(spool_dir) not in str(error)
    assert spooled(spool_dir) == []


def test_standard_input_over_the_spool_limit_is_refused(settings, spool_dir):
    settings.DATATRANSFER_STDIN_MAX_SIZE = 2 * MiB
    stream = Endless(b'{"metadata": {}, "data": {"x": "', b"a", 300 * MiB)
    error = load_stdin(io.BufferedReader(stream))
    assert error.returncode == EXIT_REFUSED and "\n" not in str(error)
    assert "Standard input is more than 2.0 MB (DATATRANSFER_STDIN_MAX_MB)" in str(error)
    assert stream.read_bytes <= 4 * MiB
    assert spooled(spool_dir) == []


def _file_size_limit():  # in the child, before manage.py runs: `ulimit -f 1024`
    resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, MiB))


def test_a_full_disk_while_spooling_standard_input_is_a_one_line_refusal(make_database, tmp_path):
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(make_database("sqlite")),
        "DATATRANSFER_WORK_DIR": str(spool),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    data = b'{"metadata": {}, "data": {"x": "' + b"a" * (4 * MiB) + b'"}}'
    load = subprocess.run(
        [sys.executable, "manage.py", "loaddomain", "--no-input", "-"],
        input=data,
        cwd=ROOT,
        env=env,
        capture_output=True,
        preexec_fn=_file_size_limit,
        timeout=120,
    )
    stderr = load.stderr.decode()
    assert load.returncode == EXIT_REFUSED, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert "Cannot spool standard input" in stderr and "File too large" in stderr
    assert spooled(spool) == []


# ------------------------------------------------------------------------------------ migrate


def test_migrate_on_an_unreachable_database_is_one_line_without_the_password():
    url = f"postgres://someone:s3cret-pw@127.0.0.1:{free_port()}/nothing"
    run = run_manage("migrate", "--database", "other", env={"DATABASE_URL_OTHER": url})
    assert run.returncode == EXIT_REFUSED, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Cannot connect to database 'other'" in run.stderr
    assert "s3cret-pw" not in run.stderr + run.stdout


@pytest.mark.skipif(connections["platform"].vendor != "postgresql", reason="PostgreSQL's schema")
def test_migrate_with_a_schema_that_does_not_exist_is_one_line(make_database):
    url = database_url(make_database("postgresql")) + "?schema=nowhere"
    run = run_manage("migrate", "--database", "other", env={"DATABASE_URL_OTHER": url})
    assert run.returncode == EXIT_REFUSED, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Cannot migrate database 'other'" in run.stderr
    assert "no schema has been selected to create in" in run.stderr


# ------------------------------------------------------------------------- a stopped worker


def test_an_import_stopped_by_the_worker_is_recorded_interrupted(
    settings, tmp_path, make_database, monkeypatch
):
    """`db_worker`'s second SIGTERM raises SystemExit(1) in the running task."""
    settings.DATATRANSFER_IMPORTS_DIR = tmp_path / "imports"
    stored = store_upload(SimpleUploadedFile("a.json", b'{"metadata": {}, "data": {}}'))
    record = queue_preview(user=None, stored=stored, file_name="a.json", database="platform")

    def stopped(*args, **kwargs):
        raise SystemExit(1)

    monkeypatch.setattr("datatransfer.import_tasks.load_file", stopped)
    with pytest.raises(SystemExit):
        run_import.call(record.pk)
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.INTERRUPTED
    assert record.error.startswith("Interrupted: the process running the import was stopped")


QUEUE_IMPORT = """
from django.core.files.uploadedfile import SimpleUploadedFile
from datatransfer.import_files import store_upload
from datatransfer.import_tasks import queue_preview
data = open({path!r}, "rb").read()
stored = store_upload(SimpleUploadedFile("demo.json", data))
print(queue_preview(user=None, stored=stored, file_name="demo.json", database="platform").pk)
"""


@pytest.mark.skipif(
    connections["platform"].vendor != "postgresql", reason="holds a table lock on PostgreSQL"
)
def test_a_worker_stopped_in_the_middle_of_an_import_records_it_interrupted(site, tmp_path):
    """As the attack ran it: the real worker, an import held half-way by another session's
    lock, two SIGTERMs."""
    file = tmp_path / "demo.json"
    assert run_manage("dumpdomain", str(file), "-v", "0", env=site).returncode == 0
    blocker = psycopg.connect(site["DATABASE_URL"])
    blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
    watcher = psycopg.connect(site["DATABASE_URL"], autocommit=True)
    env = {**site, "DATATRANSFER_LOCK_TIMEOUT": "0"}
    try:
        with running_manage(
            "db_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload", env=env
        ) as worker:
            queued = run_manage("shell", "-c", QUEUE_IMPORT.format(path=str(file)), env=env)
            assert queued.returncode == 0, queued.stderr
            pk = int(queued.stdout.split()[-1])
            deadline = time.monotonic() + 60
            while not _waiting_on_lock(watcher, urlsplit(site["DATABASE_URL"]).path[1:]):
                assert worker.poll() is None, "the worker stopped"
                assert time.monotonic() < deadline, "the import never reached the locked table"
                time.sleep(0.1)
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert worker.poll() is None  # the first SIGTERM waits for the import
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    finally:
        blocker.close()
        watcher.close()
    path = site["PROJECT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as database:
        status, error = database.execute(
            "SELECT status, error FROM datatransfer_importrecord WHERE id = ?", [pk]
        ).fetchone()
    assert status == "interrupted", error
    assert error.startswith("Interrupted: the process running the import was stopped")
