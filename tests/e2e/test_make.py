"""`make demo` and `make test` only touch their own throw-away databases, whatever `.env` names."""

import os
import subprocess

import pytest
from django.conf import settings

from tests.subprocesses import ROOT


@pytest.mark.e2e
def test_make_demo_runs_every_command_on_its_own_sqlite_files():
    plan = subprocess.run(
        ["make", "-n", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": "postgres://app@prod.example.fr/platform"},
        check=True,
    ).stdout
    commands = [
        line for line in plan.splitlines() if "manage.py" in line and not line.startswith("echo")
    ]
    assert len(commands) >= 6
    for command in commands:
        assert command.startswith("ENV_FILE=/dev/null ")
        assert f"PROJECT_DATABASE_URL=sqlite:///{ROOT}/demo-project.sqlite3" in command
        assert f"DATABASE_URL=sqlite:///{ROOT}/demo-platform.sqlite3" in command
        assert "prod.example.fr" not in command


def test_the_test_suite_reads_no_env_file():
    """tests/settings.py sets ENV_FILE before the project's settings read it, and the
    manage.py subprocesses of the tests inherit it."""
    assert os.environ["ENV_FILE"] == os.devnull
    assert settings.SETTINGS_MODULE == "tests.settings"


def test_make_test_checks_the_server_not_the_named_database():
    from tests.postgres_reachable import main

    if main("postgres://postgres@127.0.0.1:5432/postgres") != 0:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    assert main("postgres://postgres@127.0.0.1:5432/no_such_database_here") == 0
    assert main("postgres://postgres@127.0.0.1:9/postgres?connect_timeout=2") == 1


@pytest.mark.e2e
def test_make_demo_ends_saying_how_to_start_the_admin_worker():
    result = subprocess.run(["make", "-s", "-n", "demo"], cwd=ROOT, capture_output=True, text=True)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("echo") and last.rstrip('"').endswith("manage.py db_worker")
    assert "ENV_FILE=/dev/null" in last
