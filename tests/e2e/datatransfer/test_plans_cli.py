"""`loaddomain --apply` in a real process: a plan refused because the target changed is
one line on stderr, exit status 4, no traceback; neither the plan nor the output holds the
database's password."""

import json

import pytest
from django.db import connections

from core.models import Permission
from tests.subprocesses import database_url, run_manage

SECRET = "pw-s3cret"


@pytest.mark.e2e
def test_a_refused_apply_is_one_line_and_exit_4(make_database, node_file, tmp_path):
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    target = make_database(vendor)
    url = database_url(target).replace("postgres://postgres@", f"postgres://postgres:{SECRET}@")
    env = {"DATABASE_URL": url}
    plan = tmp_path / "plan.json"
    made = run_manage("loaddomain", node_file, "--dry-run", "--plan-out", str(plan), env=env)
    assert made.returncode == 0, made.stderr
    assert SECRET not in plan.read_text(encoding="utf-8") + made.stdout + made.stderr
    [first, *_] = json.loads(plan.read_text())["tables"]["permissions"]["rows"]["created"]
    Permission.objects.using(target).create(id=first, key="added.since", label="Since")

    applied = run_manage("loaddomain", "--apply", str(plan), "--no-input", env=env)
    assert applied.returncode == 4
    assert applied.stderr == (
        "CommandError: The target changed since the plan: permissions 1 row differ; nothing "
        "was written (make a new plan: loaddomain FILE --dry-run --plan-out PLAN).\n"
    )
    assert Permission.objects.using(target).count() == 1
