"""Shared fixtures: extra, fully migrated databases created for one test.

Most tests use pytest-django's `db` on the `default` alias (SQLite, or PostgreSQL when
`DATABASE_URL` points there). Tests that move data between two databases ask
`make_database("sqlite")` or `make_database("postgresql")` for more aliases.
"""

import itertools
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from config.database_urls import database_from_url

PRISMA_DDL = Path(settings.BASE_DIR) / "core" / "prisma" / "prisma-schema.sql"
DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
_aliases = itertools.count(1)
# The domain's tables live in the platform's database, the export history in the project's.
BOTH_DATABASES = ["default", "platform"]


# The three layers of the suite, each test in one (`make test-fast` runs the first):
# - unit: no database, no process (the default: a test asking for neither);
# - integration: the ORM on SQLite or PostgreSQL (given to every test with database access);
# - e2e: real `manage.py` processes, Chromium or Node.js (marked `e2e` by the test or its
#   module). A unit test that starts a process fails and says so.
LAYERS = ("unit", "integration", "e2e")
# A test using one of these, directly or through its fixtures, has a database.
DATABASE_FIXTURES = {"_django_db_helper", "make_database"}


def pytest_configure(config):
    config.addinivalue_line("markers", "unit: no database, no subprocess (make test-fast)")
    config.addinivalue_line("markers", "integration: the ORM on SQLite or PostgreSQL")
    config.addinivalue_line("markers", "e2e: real manage.py processes, Chromium or Node.js")


def _layer(item) -> str:
    if item.get_closest_marker("e2e"):
        return "e2e"
    if item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames):
        return "integration"
    return "unit"


@pytest.fixture(autouse=True)
def _no_process_in_a_unit_test(request, monkeypatch):
    """A unit test may not start a process: it would make the fast layer slow without
    saying so. (Integration tests that start one are still to be marked e2e.)"""
    if _layer(request.node) != "unit":
        return

    def refused(*args, **kwargs):
        raise AssertionError(
            f"{request.node.nodeid} starts a process: mark it @pytest.mark.e2e "
            "(tests/conftest.py, LAYERS)"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)


@pytest.fixture(scope="session", autouse=True)
def subprocess_project_database(request, tmp_path_factory):
    """The project's own database (export history) for `manage.py` subprocesses: a migrated
    SQLite file of this test session, never the developer's. Not made for a session of
    unit tests alone (`make test-fast`)."""
    path = tmp_path_factory.mktemp("project") / "project.sqlite3"
    os.environ["PROJECT_DATABASE_URL"] = f"sqlite:///{path}"
    if all(_layer(item) == "unit" for item in request.session.items):
        return
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        check=True,
    )


@pytest.fixture(scope="session", autouse=True)
def session_work_dir(tmp_path_factory):
    """The work folders (DATATRANSFER_WORK_DIR) of this test session, not the project's
    nor an exports folder: one for the `manage.py` subprocesses, another for this process
    (its sweeps then never find a killed subprocess's run, whose records are in another
    database)."""
    os.environ["DATATRANSFER_WORK_DIR"] = str(tmp_path_factory.mktemp("work"))
    settings.DATATRANSFER_WORK_DIR = tmp_path_factory.mktemp("work")


def pytest_collection_modifyitems(items):
    """Every test with database access may use both databases unless it says otherwise;
    every test is given its layer's marker."""
    for item in items:
        item.add_marker(_layer(item))
        marker = item.get_closest_marker("django_db")
        if marker is None and "_django_db_helper" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.django_db(databases=BOTH_DATABASES), append=False)
        elif marker is not None and "databases" not in marker.kwargs:
            item.add_marker(
                pytest.mark.django_db(*marker.args, databases=BOTH_DATABASES, **marker.kwargs),
                append=False,
            )


@pytest.fixture
def written_by(request, monkeypatch):
    """The writer (tests/engine_names.py) the imports of a test parametrized with it
    (indirectly) write with; its name."""
    from tests.engine_names import use_writer

    use_writer(monkeypatch, request.param)
    return request.param


def _postgres_admin_kwargs(config) -> dict:
    return dict(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname=config.get("NAME") or "postgres",
        autocommit=True,
        connect_timeout=5,
    )


def _postgres_admin_connection(config):
    return psycopg.connect(**_postgres_admin_kwargs(config))


def _register(alias, config):
    settings.DATABASES[alias] = config
    connections.settings[alias] = connections.configure_settings(
        {"default": dict(connections.settings["default"]), alias: config}
    )[alias]


def _unregister(alias):
    connections[alias].close()
    del connections[alias]
    connections.settings.pop(alias, None)
    settings.DATABASES.pop(alias, None)


@pytest.fixture
def make_database(django_db_blocker, tmp_path):
    """Return a function that creates a migrated database and returns its alias."""
    made = []

    def make(vendor: str) -> str:
        """`vendor` is "sqlite", "postgresql", or "prisma": a PostgreSQL database made from
        Prisma's own DDL (core/prisma/prisma-schema.sql) with no Django migration at all,
        as the platform's databases are."""
        alias = f"extra{next(_aliases)}"
        if vendor == "sqlite":
            config = {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(tmp_path / f"{alias}.sqlite3"),
            }
            drop = None
        elif vendor in ("postgresql", "prisma"):
            config = database_from_url(
                os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
            )
            name = f"dt_test_{uuid.uuid4().hex[:12]}"
            try:
                with _postgres_admin_connection(config) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
            except psycopg.OperationalError as error:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"PostgreSQL is needed under CI=true: {error}")
                pytest.skip(f"PostgreSQL unreachable: {error}")
            admin_config = dict(config)
            config = {**config, "NAME": name}

            def drop(name=name, admin_config=admin_config):
                with _postgres_admin_connection(admin_config) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            raise ValueError(vendor)
        _register(alias, config)
        made.append((alias, drop))
        if vendor == "prisma":
            with psycopg.connect(**_postgres_admin_kwargs(config)) as platform:
                platform.execute(PRISMA_DDL.read_text(encoding="utf-8"))
        else:
            call_command("migrate", database=alias, verbosity=0)
        return alias

    with django_db_blocker.unblock():
        yield make
        for alias, drop in reversed(made):
            _unregister(alias)
            if drop:
                drop()
