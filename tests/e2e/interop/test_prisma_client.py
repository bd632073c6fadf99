"""Real Prisma Client on both sides of dumpdomain and loaddomain.

What it proves: a data set written by the platform's own client (Prisma Client 6.19.3, generated
from the vendored core/prisma/schema.prisma) into a database made by Prisma's DDL
(core/prisma/prisma-schema.sql) comes out of `dumpdomain` and goes into another such database
with `loaddomain` so that Prisma Client reads back exactly the same thing from both: every row
of the 16 models, users' permissions, the Organization <-> User cycle, the block chain, decimals,
BigInts above 2^53, dates, DateTimes to the millisecond, Json, every enum value. Also that a
second `loaddomain` of the same file changes nothing, that Prisma can go on inserting AuditLogs
in the target (its sequence is past the imported ids), and that neither the commands nor
`manage.py migrate` create anything in the platform's database (`migrate --database platform`
is refused).

The Node side lives beside this file: write.mjs (the data set), read.mjs (canonical JSON of
everything), audit-next.mjs, bigints.mjs (the export's BigInts as the old tool reads them, through
JSON.parse and Prisma Client), generate.mjs (the client, derived from the vendored schema).
Needs node and npm (skipped loudly without them, failed under CI=true) and PostgreSQL
(TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres). The first run installs
the pinned packages into tests/e2e/interop/node_modules (`npm ci`), later runs reuse them.
"""

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from datatransfer.registry import domain_tables
from tests.domain_order import OLD_TOOL_ORDER
from tests.e2e.interop import one_worker, only_in_the_postgresql_pass

pytestmark = [only_in_the_postgresql_pass, one_worker, pytest.mark.database, pytest.mark.e2e]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SCHEMA = ROOT / "core" / "prisma" / "schema.prisma"
DDL = ROOT / "core" / "prisma" / "prisma-schema.sql"
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
UNDER_CI = os.environ.get("CI") == "true"


def prisma_models() -> dict[str, str]:
    """The export file's keys, in the old tool's order, and the Prisma Client model each one
    holds (its table's name, first letter in lower case)."""
    tables = {table.key: table.model._meta.db_table for table in domain_tables()}
    return {key: tables[key][:1].lower() + tables[key][1:] for key in OLD_TOOL_ORDER}


def _unavailable(reason: str):
    if UNDER_CI:
        pytest.fail(f"{reason} (CI=true: the Prisma Client interop check cannot be skipped)")
    pytest.skip(f"!!!!!!!! {reason}: the Prisma Client interop check was SKIPPED !!!!!!!!")


def run(args, env=None, cwd=ROOT, timeout=600):
    """Run a command; fail the test with its output unless it exits 0. Return its stdout."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(map(str, args))}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result.stdout


# --------------------------------------------------------------------------- the Node.js side


@pytest.fixture(scope="module")
def node():
    """The path of `node`, with the pinned packages installed and the client generated."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are not installed")
    with one_at_a_time():
        installed = install_packages(npm)
        client = HERE / "generated" / "client" / "index.js"
        sources = [SCHEMA, HERE / "generate.mjs", installed]
        if not client.is_file() or client.stat().st_mtime < max(p.stat().st_mtime for p in sources):
            run([node, "generate.mjs"], cwd=HERE)
    return node


@contextlib.contextmanager
def one_at_a_time():
    """Hold tests/e2e/interop's lock: one test process installs or generates at a time, the
    others wait (two `npm ci` in one folder break each other)."""
    with open(HERE / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_packages(npm) -> Path:
    """Install the pinned packages into node_modules unless they are (inside
    one_at_a_time); return the file npm writes at the end of an install. An `npm ci` that
    fails is tried once more from an empty folder (npm's own removal of the old folder can
    fail with ENOTEMPTY)."""
    modules = HERE / "node_modules"
    installed = modules / ".package-lock.json"
    if (
        installed.is_file()
        and installed.stat().st_mtime >= (HERE / "package-lock.json").stat().st_mtime
    ):
        return installed
    # No install scripts: Prisma's would try to download engines, which are not used here.
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    if subprocess.run(command, cwd=HERE, capture_output=True, check=False).returncode != 0:
        shutil.rmtree(modules, ignore_errors=True)
        run(command, cwd=HERE)
    return installed


def platform_url(url: str) -> str:
    """`url` as the platform's .env writes it for Prisma: the Node scripts and the commands
    both get this form; psycopg, here, the plain one."""
    return f"{url}?schema=public"


def node_script(node, script, database_url, *args):
    env = {**os.environ, "DATABASE_URL": platform_url(database_url)}
    return run([node, script, *map(str, args)], env=env, cwd=HERE)


# --------------------------------------------------------------------------- the databases


def _admin():
    return psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def platform_database():
    """Return a function making an empty platform database from Prisma's DDL; its URL."""
    try:
        _admin().close()
    except psycopg.OperationalError as error:
        _unavailable(f"PostgreSQL at {urlsplit(SERVER_URL).hostname} is unreachable: {error}")
    made = []

    def make(label: str) -> str:
        name = f"dt_interop_{label}_{uuid.uuid4().hex[:10]}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = urlsplit(SERVER_URL)._replace(path=f"/{name}", query="").geturl()
        with psycopg.connect(url) as connection:
            connection.execute(DDL.read_text(encoding="utf-8"))
        return url

    yield make
    with _admin() as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def relations(url: str) -> list:
    """Every table, view and sequence outside PostgreSQL's own schemas, and every type."""
    with psycopg.connect(url) as connection:
        return connection.execute(
            """
            SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'v', 'm', 'S', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%'
            UNION ALL
            SELECT n.nspname, t.typname, 'type' FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            ORDER BY 1, 2, 3
            """
        ).fetchall()


# --------------------------------------------------------------------------- the Django side


@pytest.fixture(scope="module")
def django_env(tmp_path_factory):
    """The environment of the commands: no .env, the project's tables in a scratch SQLite."""
    folder = tmp_path_factory.mktemp("project")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DATABASE_URL") and key != "PROJECT_DATABASE_URL"
    }
    env |= {
        "ENV_FILE": "/dev/null",
        "PROJECT_DATABASE_URL": f"sqlite:///{folder}/project.sqlite3",
    }
    run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], env=env)
    return env


def manage(env, database_url, *args):
    env = {**env, "DATABASE_URL": platform_url(database_url)}
    return run([sys.executable, "manage.py", *args], env=env)


def load(env, database_url, file, report):
    manage(env, database_url, "loaddomain", "--no-input", str(file), "--report", str(report))
    return json.loads(report.read_text(encoding="utf-8"))


def events(rows) -> list[str]:
    """Audit log rows without their ids, in a comparable order."""
    return sorted(
        json.dumps({k: v for k, v in row.items() if k != "id"}, sort_keys=True) for row in rows
    )


# --------------------------------------------------------------------------- the check


def test_prisma_reads_back_in_the_target_what_it_wrote_in_the_source(
    node, platform_database, django_env, tmp_path
):
    source, target = platform_database("a"), platform_database("b")
    source_relations = relations(source)

    node_script(node, "write.mjs", source)
    written = json.loads(node_script(node, "read.mjs", source))
    assert all(written[model] for model in prisma_models().values()), "write.mjs left a model empty"

    # Export from the platform's database as Prisma wrote it.
    export = tmp_path / "export.json"
    manage(django_env, source, "dumpdomain", str(export))
    data = json.loads(export.read_text(encoding="utf-8"))["data"]
    assert list(data) == list(prisma_models())
    counts = {key: len(written[model]) for key, model in prisma_models().items()}
    assert {key: len(rows) for key, rows in data.items()} == counts
    assert {user["id"]: sorted(user["permissionKeys"]) for user in data["users"]} == {
        user["id"]: sorted(p["key"] for p in user["permissions"]) for user in written["user"]
    }

    # The old tool reads the file with JSON.parse and gives Prisma Client its values: BigInts
    # come through exactly (strings in the file; numbers above 2^53 would be rounded).
    bigints = json.loads(node_script(node, "bigints.mjs", platform_database("c"), export))
    for model, key in (("blockchainBlock", "nonce"), ("documentPartage", "fileSize")):
        assert bigints[model] == {row["id"]: row[key] for row in written[model]}, model
    assert "9007199254740993" in bigints["blockchainBlock"].values()

    # First import into an empty platform database: every row created (audit logs appended,
    # under the target's own ids), none failed or skipped.
    first = load(django_env, target, export, tmp_path / "first.json")
    assert first["errors"] == []
    for key, count in counts.items():
        outcome = "appended" if key == "auditLogs" else "created"
        assert first["tables"][key][outcome] == count, (key, first["tables"][key])
    assert first["totals"]["failed"] == first["totals"]["skipped"] == 0, first["totals"]
    assert first["totals"]["updated"] == first["totals"]["unchanged"] == 0, first["totals"]

    # The same file again: every row found unchanged, nothing written.
    second = load(django_env, target, export, tmp_path / "second.json")
    assert second["errors"] == []
    for key, count in counts.items():
        assert second["tables"][key]["unchanged"] == count, (key, second["tables"][key])
    for outcome in ("created", "appended", "updated", "skipped", "failed"):
        assert second["totals"][outcome] == 0, second["totals"]

    # Prisma Client sees the same data in both databases.
    source_read = json.loads(node_script(node, "read.mjs", source))
    target_read = json.loads(node_script(node, "read.mjs", target))
    assert source_read == written, "dumpdomain changed the source database"
    for model in prisma_models().values():
        if model != "auditLog":
            assert target_read[model] == source_read[model], model
    # Audit logs are append-only: the same events, numbered by the target's own sequence
    # (in the file's order, by creation time).
    assert events(target_read["auditLog"]) == events(source_read["auditLog"])

    # The platform goes on: its next AuditLog does not collide with the imported ids.
    next_id = int(node_script(node, "audit-next.mjs", target))
    assert next_id > max(row["id"] for row in source_read["auditLog"])

    # Nothing of ours in the platform's database, not even after `migrate` with DATABASE_URL
    # naming it, nor `migrate --database platform` (which must be refused).
    assert relations(source) == source_relations
    manage(django_env, source, "migrate", "--verbosity", "0")
    assert relations(source) == source_relations
    refused = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database", "platform", "--verbosity", "0"],
        cwd=ROOT,
        env={**django_env, "DATABASE_URL": platform_url(source)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert relations(source) == source_relations
    assert relations(target) == source_relations
    assert json.loads(node_script(node, "read.mjs", source)) == written
