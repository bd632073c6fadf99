"""The fixtures of the transfer tests, whatever their layer (tests/conftest.py loads them)."""

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from tests.subprocesses import database_url

DATA = Path(__file__).parent / "data"


@pytest.fixture
def node_file():
    """A format 1.0 file as the Node.js tool writes it: all 16 tables, the owner cycle,
    a block pointing forward to a later block, dates at midnight, big integers as strings."""
    return str(DATA / "node-export-1.0.json")


@pytest.fixture
def run_worker():
    """Return a function that runs every queued task in this process, as `db_worker --batch`
    does (its own Worker, claiming then running each task), and returns how many it ran.

    Not the worker's loop itself: it closes the database connections between tasks, and a
    test's transaction would not survive that. tests/integration/datatransfer/test_worker.py
    runs the real command."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    def run() -> int:
        worker = Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="pytest",
            excluded_queue_names=[],
        )
        count = 0
        while (result := DBTaskResult.objects.ready().first()) is not None:
            result.claim(worker.worker_id)
            worker.run_task(result)
            count += 1
        return count

    return run


@pytest.fixture
def site(make_database, tmp_path, subprocess_project_database):
    """The environment of `manage.py` subprocesses for a project as deployed (a server, a
    worker): its own migrated project database (an SQLite file: a copy of the session's
    pristine one, as `manage.py migrate` would make it), a platform database of this run's
    vendor with the demo data, and an exports folder. Nothing is shared with the test
    process but these databases."""
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    platform = make_database(vendor)
    call_command("seeddemo", "--scale", "1", "--database", platform, stdout=io.StringIO())
    project = tmp_path / "project.sqlite3"
    shutil.copyfile(subprocess_project_database, project)
    return {
        "PROJECT_DATABASE_URL": f"sqlite:///{project}",
        "DATABASE_URL": database_url(platform),
        "EXPORTS_DIR": str(tmp_path / "exports"),
    }
