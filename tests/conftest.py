"""Shared fixtures: extra, fully migrated databases created for one test.

Most tests use pytest-django's `db` on the `default` alias (SQLite, or PostgreSQL when
`DATABASE_URL` points there). Tests that move data between two databases ask
`make_database("sqlite")` or `make_database("postgresql")` for more aliases.
"""

import itertools
import os
import shutil
import signal
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
# The fixtures of the transfer tests (node_file, run_worker, site), in every layer's folder.
pytest_plugins = ["tests.transfer_fixtures"]
# The domain's tables live in the platform's database, the export history in the project's.
BOTH_DATABASES = ["default", "platform"]


# The three layers of the suite, each test in one (`make test-fast` runs the first). Each test
# file lives in the folder of its layer (tests/unit, tests/integration, tests/e2e), or of
# most of its tests; the marker, given per test below, is what `-m` selects on.
# - unit: no database, no process (the default: a test asking for neither);
# - integration: the ORM on SQLite or PostgreSQL (given to every test with database access);
# - e2e: real `manage.py` processes, Chromium or Node.js (marked `e2e` by the test or its
#   module). A unit test that starts a process fails and says so.
LAYERS = ("unit", "integration", "e2e")
# A test using one of these, directly or through its fixtures, has a database.
DATABASE_FIXTURES = {"_django_db_helper", "make_database"}
# Across the layers, `database` marks what depends on the suite's database (DATABASE_URL,
# SQLite or PostgreSQL): every test with a database, and the checks that run only when it
# is PostgreSQL (tests/e2e/interop). `make test` runs the whole suite on SQLite, then only these
# on PostgreSQL: the others would do the very same thing twice.


def _hear_signals_again() -> None:
    """A suite started from a shell that ignores SIGINT and SIGHUP (`nohup make test &`)
    would hand those ignored signals down to every `manage.py` it starts, and the tests
    that send a real Ctrl-C or SIGHUP would wait for nothing. Python's own handlers are put
    back; a child process then starts with the defaults, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def pytest_configure(config):
    _hear_signals_again()
    config.addinivalue_line("markers", "unit: no database, no subprocess (make test-fast)")
    config.addinivalue_line("markers", "integration: the ORM on SQLite or PostgreSQL")
    config.addinivalue_line("markers", "e2e: real manage.py processes, Chromium or Node.js")
    config.addinivalue_line(
        "markers", "database: depends on DATABASE_URL's engine (both passes of make test)"
    )


def _has_a_database(item) -> bool:
    return bool(item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames))


def _layer(item) -> str:
    if item.get_closest_marker("e2e"):
        return "e2e"
    if _has_a_database(item):
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
    SQLite file of this test session, never the developer's. Returns the path of a pristine
    copy, which tests copy for a project of their own (tests/transfer_fixtures.py,
    `site`) rather than migrating one. Not made for a session of unit tests alone (`make
    test-fast`)."""
    folder = tmp_path_factory.mktemp("project")
    path, pristine = folder / "project.sqlite3", folder / "pristine.sqlite3"
    os.environ["PROJECT_DATABASE_URL"] = f"sqlite:///{path}"
    if all(_layer(item) == "unit" for item in request.session.items):
        return None
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        check=True,
    )
    shutil.copyfile(path, pristine)
    return pristine


@pytest.fixture(scope="session", autouse=True)
def session_work_dir(tmp_path_factory):
    """The work folders (DATATRANSFER_WORK_DIR) of this test session, not the project's
    nor an exports folder: one for the `manage.py` subprocesses, another for this process
    (its sweeps then never find a killed subprocess's run, whose records are in another
    database)."""
    os.environ["DATATRANSFER_WORK_DIR"] = str(tmp_path_factory.mktemp("work"))
    settings.DATATRANSFER_WORK_DIR = tmp_path_factory.mktemp("work")


@pytest.fixture(scope="session", autouse=True)
def session_journal_dir(tmp_path_factory):
    """The undo journals (DATATRANSFER_JOURNAL_DIR) of this test session's imports, this
    process's and its `manage.py` subprocesses', never the project's exports folder."""
    folder = tmp_path_factory.mktemp("journal")
    os.environ["DATATRANSFER_JOURNAL_DIR"] = str(folder)
    settings.DATATRANSFER_JOURNAL_DIR = folder


def pytest_collection_modifyitems(items):
    """Every test with database access may use both databases unless it says otherwise;
    every test is given its layer's marker, and `database` if it has one."""
    for item in items:
        item.add_marker(_layer(item))
        if _has_a_database(item):
            item.add_marker("database")
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


# The server's maintenance database, which always exists: where databases are created and
# dropped, as Django itself does for its test databases (the one a URL names need not exist).
MAINTENANCE_DATABASE = "postgres"


def _postgres_connection(config, dbname=MAINTENANCE_DATABASE):
    return psycopg.connect(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


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


def _create_postgres_database(config, template=None) -> dict:
    """Create a database of this session on `config`'s server (a copy of `template` if
    given) and return its settings; skip the test when the server is unreachable (fail
    under CI=true)."""
    name = f"dt_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with _postgres_connection(config) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{copy}')
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed under CI=true: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    return {**config, "NAME": name}


def _drop_postgres_database(config) -> None:
    with _postgres_connection(config) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')


def _fill(alias, vendor) -> None:
    """Make the empty database of `alias` what `vendor` asks for: Prisma's own DDL, or the
    domain's tables by `migrate`."""
    if vendor == "prisma":
        config = connections.settings[alias]
        with _postgres_connection(config, config["NAME"]) as platform:
            platform.execute(PRISMA_DDL.read_text(encoding="utf-8"))
    else:
        call_command("migrate", database=alias, verbosity=0)


@pytest.fixture(scope="session")
def _database_templates(tmp_path_factory):
    """One filled database per vendor for this session (made on first use), which every
    `make_database` copies: a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on
    PostgreSQL. Copying is several times cheaper than migrating each time. Dropped at the
    end of the session."""
    templates = {"folder": tmp_path_factory.mktemp("templates")}
    yield templates
    for vendor, config in templates.items():
        if vendor != "folder" and config["ENGINE"].endswith("postgresql"):
            _drop_postgres_database(config)


def _template(templates, vendor) -> dict:
    """The settings of `vendor`'s template database, made now if it does not exist yet."""
    if vendor not in templates:
        if vendor == "sqlite":
            path = templates["folder"] / "template.sqlite3"
            config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
        else:
            server = database_from_url(
                os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
            )
            config = _create_postgres_database(server)
        alias = f"template{next(_aliases)}"
        _register(alias, config)
        try:
            _fill(alias, vendor)
        except BaseException:
            _unregister(alias)
            if vendor != "sqlite":
                _drop_postgres_database(config)
            raise
        _unregister(alias)  # a template must have no open connection to be copied
        templates[vendor] = config
    return templates[vendor]


@pytest.fixture
def make_database(django_db_blocker, tmp_path, _database_templates):
    """Return a function that creates a migrated database and returns its alias."""
    made = []

    def make(vendor: str) -> str:
        """`vendor` is "sqlite", "postgresql", or "prisma": a PostgreSQL database made from
        Prisma's own DDL (core/prisma/prisma-schema.sql) with no Django migration at all,
        as the platform's databases are."""
        if vendor not in ("sqlite", "postgresql", "prisma"):
            raise ValueError(vendor)
        template = _template(_database_templates, vendor)
        alias = f"extra{next(_aliases)}"
        if vendor == "sqlite":
            config = {**template, "NAME": str(tmp_path / f"{alias}.sqlite3")}
            shutil.copyfile(template["NAME"], config["NAME"])
        else:
            config = _create_postgres_database(template, template=template["NAME"])
        _register(alias, config)
        made.append((alias, config))
        return alias

    with django_db_blocker.unblock():
        yield make
        for alias, config in reversed(made):
            _unregister(alias)
            if config["ENGINE"].endswith("postgresql"):
                _drop_postgres_database(config)
