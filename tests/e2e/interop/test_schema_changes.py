"""The platform's schema changes, and the documented step follows it (issue 22), end to end.

For each of the five changes of tests/schema_changes.py: a copy of the project gets the
changed schema.prisma and real Prisma's DDL for it in core/prisma/, then `inspectprisma` and
`makemigrations core` (the step of docs/schema-changes.md; no Python file is edited by hand).
The source is a platform database made by Prisma from the vendored schema, filled by
`seeddemo`, then migrated by Prisma's own migration script to the changed schema (as
`prisma migrate deploy` does) and given values in what changed; the target is made by Prisma
from the changed schema. Export, import, import again (every row unchanged), verify, and the
changed columns hold in the target what they hold in the source.

Needs node and npm, and PostgreSQL (TEST_DATABASE_URL); skipped loudly without them, failed
under CI=true, as tests/e2e/interop/test_prisma_client.py.
"""

import json
import shutil
import sys
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest

from tests import schema_changes
from tests.e2e.interop import one_worker, only_in_the_postgresql_pass
from tests.e2e.interop.test_prisma_client import (
    DDL,
    HERE,
    ROOT,
    SERVER_URL,
    _unavailable,
    install_packages,
    one_at_a_time,
    platform_url,
    run,
)

pytestmark = [only_in_the_postgresql_pass, one_worker, pytest.mark.database, pytest.mark.e2e]

# Per change: SQL giving the source values in what changed, and a query of them to compare.
CHANGES = {
    "new optional column": (
        """UPDATE "User" SET "nickname" = 'nick-' || left("email", 5) WHERE "role" <> 'USER'""",
        'SELECT "id", "nickname" FROM "User" ORDER BY "id"',
    ),
    "new required column with a default": (
        """UPDATE "Organization" SET "memberLimit" = 7 WHERE "isActive" """,
        'SELECT "id", "memberLimit" FROM "Organization" ORDER BY "id"',
    ),
    "new model": (
        """INSERT INTO "Badge" ("id", "organizationId", "code", "label", "updatedAt")
           SELECT 'badge-' || "slug", "id", 'GOLD', 'Or', now() FROM "Organization";
           INSERT INTO "Badge" ("id", "organizationId", "code", "label", "updatedAt")
           SELECT 'badge2-' || "slug", "id", 'SILVER', 'Argent', now() FROM "Organization"
           WHERE "isActive" """,
        'SELECT * FROM "Badge" ORDER BY "id"',
    ),
    "new enum label": (
        """UPDATE "User" SET "role" = 'GUEST' WHERE "phone" IS NULL""",
        'SELECT "id", "role"::text FROM "User" ORDER BY "id"',
    ),
    "dropped column": ("", 'SELECT "id", "code" FROM "DemandePartage" ORDER BY "id"'),
}


@pytest.fixture(scope="module")
def prisma():
    """A function running the Prisma CLI of tests/e2e/interop (installed if needed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are not installed")
    try:
        psycopg.connect(SERVER_URL, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        _unavailable(f"PostgreSQL at {urlsplit(SERVER_URL).hostname} is unreachable: {error}")
    with one_at_a_time():
        install_packages(npm)
        no_engine = HERE / "node_modules" / ".no-engine"
        no_engine.touch()

    def prisma(*args):
        env = {
            "PATH": "/usr/bin:/bin",
            "PRISMA_QUERY_ENGINE_LIBRARY": str(no_engine),
            "PRISMA_SCHEMA_ENGINE_BINARY": str(no_engine),
            "PRISMA_HIDE_UPDATE_MESSAGE": "1",
            "CHECKPOINT_DISABLE": "1",
            "DATABASE_URL": SERVER_URL,
        }
        command = [node, str(HERE / "node_modules" / "prisma" / "build" / "index.js"), *args]
        return run(command, env=env, cwd=HERE)

    return prisma


@pytest.fixture
def database():
    """Return a function making an empty database, running `sql` in it; its URL."""
    made = []

    def make(*scripts: str) -> str:
        name = f"dt_schema_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = urlsplit(SERVER_URL)._replace(path=f"/{name}", query="").geturl()
        run_sql(url, *scripts)
        return url

    yield make
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_sql(url: str, *scripts: str):
    # Autocommit: a new enum label cannot be used in the transaction that adds it.
    with psycopg.connect(url, autocommit=True) as connection:
        for script in scripts:
            if script.strip():
                connection.execute(script)


def query(url: str, sql: str) -> list:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def project_copy(folder, schema: str, ddl: str):
    """A copy of the project whose core/prisma/ holds the changed schema and DDL."""
    folder.mkdir()
    for name in ("manage.py", "config", "core", "datatransfer"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, folder / name)
    (folder / "core" / "prisma" / "schema.prisma").write_text(schema, encoding="utf-8")
    (folder / "core" / "prisma" / "prisma-schema.sql").write_text(ddl, encoding="utf-8")
    return folder


def environment(folder) -> dict:
    folder.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": "/dev/null",
        "PROJECT_DATABASE_URL": f"sqlite:///{folder}/project.sqlite3",
    }


def manage(project, env, database_url, *args):
    env = {**env, "DATABASE_URL": platform_url(database_url)}
    return run([sys.executable, "manage.py", *args], env=env, cwd=project)


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_schema_change_travels_after_the_documented_step(change, prisma, database, tmp_path):
    fill, compared = CHANGES[change]
    changed = tmp_path / "schema.prisma"
    changed.write_text(schema_changes.CHANGES[change](schema_changes.vendored()), encoding="utf-8")
    new_ddl = prisma(
        "migrate", "diff", "--from-empty", "--to-schema-datamodel", str(changed), "--script"
    )
    migration = prisma(
        "migrate", "diff",
        "--from-schema-datamodel", str(ROOT / "core" / "prisma" / "schema.prisma"),
        "--to-schema-datamodel", str(changed),
        "--script",
    )  # fmt: skip

    # The documented step, in a copy of the project.
    project = project_copy(tmp_path / "project", changed.read_text(encoding="utf-8"), new_ddl)
    env = environment(tmp_path / "copy-db")
    written = manage(project, env, "postgres://unused@127.0.0.1/unused", "inspectprisma")
    assert "Wrote core/models.py" in written
    manage(project, env, "postgres://unused@127.0.0.1/unused", "inspectprisma", "--check")
    manage(project, env, "postgres://unused@127.0.0.1/unused", "makemigrations", "core")
    manage(project, env, "postgres://unused@127.0.0.1/unused", "migrate", "--verbosity", "0")

    # The source: made by Prisma from the vendored schema, filled, then migrated by Prisma.
    source = database(DDL.read_text(encoding="utf-8"))
    vendored_env = environment(tmp_path / "vendored-db")
    manage(ROOT, vendored_env, source, "migrate", "--verbosity", "0")
    manage(ROOT, vendored_env, source, "seeddemo", "--scale", "1")
    run_sql(source, migration, fill)
    target = database(new_ddl)

    export = tmp_path / "export.json"
    manage(project, env, source, "dumpdomain", str(export))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    manage(project, env, target, "loaddomain", "--no-input", str(export), "--report", str(first))
    manage(project, env, target, "loaddomain", "--no-input", str(export), "--report", str(second))
    manage(project, env, target, "verifydomain", str(export))

    first, second = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    assert first["errors"] == [] and first["totals"]["failed"] == first["totals"]["skipped"] == 0
    assert second["errors"] == []
    for outcome in ("created", "appended", "updated", "skipped", "failed"):
        assert second["totals"][outcome] == 0, second["totals"]
    assert query(target, compared) == query(source, compared)
    assert query(source, compared), "the change was given no rows"
    if change == "new model":
        assert first["tables"]["badges"]["created"] == len(query(source, compared))
