"""`dumpdomain --since` through real `manage.py` runs, on databases made by Prisma's DDL
with `DATABASE_URL` as in the platform's `.env`: the weekly sync (a full copy, then the
changes since the time the last export named) leaves the target agreeing with the
source; a time that is not ISO 8601 is one line, exit 2, no file."""

import re

import pytest

from core.demo import seed_demo
from core.models import Department, Organization
from tests.subprocesses import database_url, run_manage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def env_of(alias) -> dict:
    return {"DATABASE_URL": database_url(alias) + "?schema=public"}


def test_a_weekly_sync_by_the_time_each_export_names(make_database, tmp_path):
    source, target = make_database("prisma"), make_database("prisma")
    seed_demo(scale=1, seed=42, using=source)
    dev, prod = env_of(source), env_of(target)
    full = tmp_path / "full.json"
    assert run_manage("migrate", "-v", "0", env=prod).returncode == 0
    first = run_manage("dumpdomain", str(full), "--since", "2000-01-01", env=dev)
    assert first.returncode == 0, first.stderr
    assert run_manage("loaddomain", str(full), "-v", "0", "--no-input", env=prod).returncode == 0
    since = re.search(r"Next time: --since (\S+)", first.stdout).group(1)

    organization = Organization.objects.using(source).order_by("pk").first()
    organization.name = "Renamed during the week"
    organization.save(using=source)
    Department(organization=organization, name="New", code="NEW").save(using=source)
    delta = tmp_path / "delta.json"
    run = run_manage("dumpdomain", str(delta), "--since", since, env=dev)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^departments\s+1\s+0$", run.stdout, re.M)
    loaded = run_manage("loaddomain", str(delta), "--no-input", env=prod)
    assert loaded.returncode == 0, loaded.stderr
    assert re.search(r"^departments\s+1\s", loaded.stdout, re.M)  # created
    assert "Note: A partial file (the rows changed since" in loaded.stdout
    assert Department.objects.using(target).filter(code="NEW").exists()
    # The target now equals the source: a full export of the source agrees with it.
    after = tmp_path / "after.json"
    assert run_manage("dumpdomain", str(after), "-v", "0", env=dev).returncode == 0
    verified = run_manage("verifydomain", str(after), env=prod)
    assert verified.returncode == 0 and "The database agrees with the file." in verified.stdout


def test_a_time_that_is_not_iso_8601_is_one_line_and_exit_2(tmp_path):
    run = run_manage("dumpdomain", str(tmp_path / "x.json"), "--since", "last monday")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "CommandError: --since: 'last monday' is not an ISO 8601 time "
        "(for example 2026-12-07T18:00:00Z)."
    ]
    assert not (tmp_path / "x.json").exists()
