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


@pytest.fixture(scope="session", autouse=True)
def subprocess_project_database(tmp_path_factory):
    """The project's own database (export history) for `manage.py` subprocesses: a migrated
    SQLite file of this test session, never the developer's."""
    path = tmp_path_factory.mktemp("project") / "project.sqlite3"
    os.environ["PROJECT_DATABASE_URL"] = f"sqlite:///{path}"
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
    """Every test with database access may use both databases unless it says otherwise."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and "_django_db_helper" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.django_db(databases=BOTH_DATABASES), append=False)
        elif marker is not None and "databases" not in marker.kwargs:
            item.add_marker(
                pytest.mark.django_db(*marker.args, databases=BOTH_DATABASES, **marker.kwargs),
                append=False,
            )


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
