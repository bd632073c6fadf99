"""What the commands say about what they did: the size written to standard output, the
tables an import left out, and one warning naming `migrate` before the project's tables
exist."""

import io
import re

import pytest
from django.core.management import call_command

from tests.subprocesses import database_url, run_manage

pytestmark = pytest.mark.django_db


def run(name, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dumpdomain_to_stdout_says_how_many_bytes_went_there(node_file):
    run("loaddomain", "--no-input", node_file)
    out, err = run("dumpdomain", "-")
    size = len(out.encode("utf-8"))
    assert size > 1024
    assert "Wrote -" not in err and "(0 B)" not in err
    [line] = [line for line in err.splitlines() if line.startswith("Wrote ")]
    assert re.match(rf"Wrote {size / 1024:.1f} KB to standard output from database ", line)


def test_skip_audit_says_the_audit_logs_were_left_out(node_file):
    out, _ = run("loaddomain", node_file, "--skip-audit", "--dry-run")
    assert not re.search(r"^auditLogs\s", out, re.M)
    assert "Note: left out, not loaded and not counted above: auditLogs (--skip-audit)." in out
    out, _ = run("loaddomain", node_file, "-e", "siteSettings", "--skip-audit", "--dry-run")
    assert "auditLogs (--skip-audit); siteSettings (-e)." in out
    out, _ = run("loaddomain", node_file, "--dry-run")
    assert "left out" not in out


@pytest.mark.e2e
def test_an_export_before_migrate_warns_once_naming_migrate(make_database, tmp_path):
    platform = make_database("sqlite")
    result = run_manage(
        "dumpdomain",
        str(tmp_path / "out.json"),
        env={
            "PROJECT_DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
            "DATABASE_URL": database_url(platform),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Warning: The export was not recorded in the history: this project's own tables do "
        "not exist yet (run `python manage.py migrate` once)."
    ]
    assert (tmp_path / "out.json").is_file()
