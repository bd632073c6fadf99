"""Every command that reads or writes a platform database names it, at the start and in its
summary, as `engine host:port/dbname` (issue: the real target named): from a dry run's
output a user can tell which database it read. Never a user nor a password."""

import io

import pytest
from django.core.management import call_command
from django.db import connections

from datatransfer.databases import describe
from datatransfer.routers import domain_database
from tests.subprocesses import database_url, run_manage

pytestmark = pytest.mark.django_db(databases="__all__")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_export_dry_run_import_and_verify_name_the_real_database(tmp_path, node_file):
    alias = domain_database()
    where = f"database '{alias}' ({describe(alias)})"
    loaded = run("loaddomain", node_file, "--dry-run")
    assert loaded.splitlines()[0] == (f"Dry run: checking {node_file} against {where}...")
    assert f"into {where} in " in loaded
    loaded = run("loaddomain", "--no-input", node_file)
    assert loaded.splitlines()[0] == f"Loading {node_file} into {where}..."
    file = tmp_path / "out.json"
    exported = run("dumpdomain", str(file))
    assert exported.splitlines()[0] == f"Exporting to {file} from {where}..."
    assert f"from {where} in " in exported
    verified = run("verifydomain", str(file))
    assert verified.splitlines()[0] == f"Comparing {file} with {where}..."
    assert f"with {where} in " in verified


@pytest.mark.e2e
def test_a_postgresql_target_is_named_by_host_port_and_name_never_by_its_password(tmp_path):
    alias = domain_database()
    if connections[alias].vendor != "postgresql":
        pytest.skip("a password only means something in a PostgreSQL URL")
    url = database_url(alias).replace("postgres://postgres@", "postgres://postgres:pw-s3cret@")
    config = connections.settings[alias]
    expected = f"postgresql {config['HOST']}:{config['PORT']}/{config['NAME']}"
    result = run_manage(
        "dumpdomain",
        str(tmp_path / "out.json"),
        "--database",
        "named",
        env={"DATABASE_URL_NAMED": url},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(f"from database 'named' ({expected})...")
    assert f"from database 'named' ({expected}) in " in result.stdout
    assert "pw-s3cret" not in result.stdout + result.stderr
