"""The real worker: `python manage.py db_worker`, in a process of its own, runs the exports
the admin queues, with a project database and a platform database of their own (as
deployed: nothing shared with this test process but the databases)."""

import hashlib
import signal
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import connections

from tests.integration.datatransfer.test_safety import _waiting_on_lock
from tests.subprocesses import run_manage, running_manage

pytestmark = pytest.mark.django_db
QUEUE = "from datatransfer.tasks import queue_export; print(queue_export(user=None).pk)"


def queue(env) -> int:
    """Queue a whole-database export the way the admin does; return its record's id."""
    result = run_manage("shell", "-c", QUEUE, env=env)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def records(env) -> dict:
    """The export history and the task results, read from the project's SQLite file."""
    path = env["PROJECT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as database:
        database.row_factory = sqlite3.Row
        exports = database.execute("SELECT * FROM datatransfer_exportrecord").fetchall()
        tasks = database.execute(
            "SELECT id, status FROM django_tasks_database_dbtaskresult"
        ).fetchall()
    return {
        "exports": {row["id"]: dict(row) for row in exports},
        "tasks": {row["id"].replace("-", ""): row["status"] for row in tasks},
    }


def test_db_worker_batch_runs_the_queued_export_and_exits(site):
    pk = queue(site)
    before = records(site)["exports"][pk]
    assert before["status"] == "queued" and before["file_path"] == ""

    result = run_manage("db_worker", "--batch", "--no-startup-delay", env=site)
    assert result.returncode == 0, result.stderr

    state = records(site)
    record = state["exports"][pk]
    assert record["status"] == "succeeded", record["error"]
    assert state["tasks"][record["task_id"].replace("-", "")] == "SUCCESSFUL"
    file = Path(record["file_path"])
    assert file.parent == Path(site["EXPORTS_DIR"]) and file.is_file()
    assert record["checksum"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert record["total_rows"] > 1000 and record["progress_tables"] == 16


def test_a_running_worker_takes_new_exports_and_stops_on_sigterm(site):
    with running_manage(
        "db_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload", env=site
    ) as worker:
        pk = queue(site)
        deadline = time.monotonic() + 60
        while records(site)["exports"][pk]["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not run the export"
            assert worker.poll() is None, "the worker stopped"
            time.sleep(0.2)
    assert worker.returncode == 0  # SIGTERM while waiting: a clean exit
    assert records(site)["exports"][pk]["status"] == "succeeded"


@pytest.mark.skipif(
    connections["platform"].vendor != "postgresql", reason="holds a table lock on PostgreSQL"
)
def test_a_worker_stopped_in_the_middle_of_an_export_records_it_interrupted(site):
    """`db_worker` lets a running export finish on the first SIGTERM; a second one (or a
    second Ctrl-C) stops it at once: the export is recorded interrupted, not failed, and
    its partial file is removed. Another session's lock holds the export half-way."""
    blocker = psycopg.connect(site["DATABASE_URL"])
    blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
    watcher = psycopg.connect(site["DATABASE_URL"], autocommit=True)
    exports = Path(site["EXPORTS_DIR"])
    try:
        with running_manage(
            "db_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload", env=site
        ) as worker:
            pk = queue(site)
            deadline = time.monotonic() + 60
            while not _waiting_on_lock(watcher, urlsplit(site["DATABASE_URL"]).path[1:]):
                assert worker.poll() is None, "the worker stopped"
                assert time.monotonic() < deadline, "the export never reached the locked table"
                time.sleep(0.1)
            assert records(site)["exports"][pk]["status"] == "running"
            assert [file.suffix for file in exports.iterdir()] == [".part"]
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert worker.poll() is None  # the first SIGTERM waits for the export
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    finally:
        blocker.close()
        watcher.close()
    record = records(site)["exports"][pk]
    assert record["status"] == "interrupted"
    assert record["error"] == "Interrupted: the process running the export was stopped."
    assert list(exports.iterdir()) == []
