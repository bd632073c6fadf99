"""`revertimport` as a real `manage.py` process: the run id the import's summary ends with
reverts it (exit 0), a second revert and an unknown run are one line each (exit 2), and no
traceback ever."""

import pytest

from tests.snapshots import database_snapshot
from tests.subprocesses import database_url, run_manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_the_summarys_command_reverts_the_import(make_database, node_file):
    target = make_database("sqlite")
    env = {"DATABASE_URL": database_url(target)}
    loaded = run_manage("loaddomain", node_file, "--no-input", env=env)
    assert loaded.returncode == 0, loaded.stderr
    last = loaded.stdout.rstrip().splitlines()[-1]
    assert last.startswith("Run ") and "to undo it, python manage.py revertimport " in last
    command = last.split("to undo it, python manage.py ")[1].split()
    assert any(database_snapshot(target).values())

    reverted = run_manage(*command, "--no-input", env=env)
    assert reverted.returncode == 0, reverted.stderr
    assert "Reverted run" in reverted.stdout
    assert not any(database_snapshot(target).values())

    again = run_manage(*command, env=env)
    assert again.returncode == 2 and "was reverted already" in again.stderr
    unknown = run_manage("revertimport", "20200101-000000-abcd", env=env)
    assert unknown.returncode == 2 and "No undo journal" in unknown.stderr
    for run in (again, unknown):
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
