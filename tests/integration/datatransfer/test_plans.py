"""Plan, then apply exactly that: `loaddomain FILE --dry-run --plan-out PLAN` writes the
outcome of every row and a fingerprint of the target rows read; `loaddomain --apply PLAN`
does that, or refuses (exit 4, nothing written) when the file or such a row changed since.
On the suite's database (SQLite or PostgreSQL) and on a database made by Prisma's DDL."""

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from core.models import Filiere, Permission, User
from datatransfer.databases import describe
from datatransfer.importer import ImportJob
from datatransfer.plans import PlanChecker, read_plan
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
FILIERE, ADMIN = "ckfili0000000000000000001", "ckuser0000000000000000001"


def loaddomain(*args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `loaddomain ARGS`."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("loaddomain", *args, stdout=out, stderr=err, interactive=False)
    except CommandError as error:
        return error.returncode, out.getvalue(), str(error)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def target(make_database):
    """An empty database of the suite's engine."""
    vendor = "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"
    return make_database(vendor)


def edited(node_file, path, edit):
    document = json.loads(open(node_file, encoding="utf-8").read())
    edit(document["data"])
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def renamed_filiere(node_file, tmp_path):
    def rename(data):
        data["filieres"][0]["name"] = "Mathématiques"

    return edited(node_file, tmp_path / "renamed.json", rename)


def plan_of(file, alias, tmp_path, *flags) -> tuple[str, dict]:
    plan = tmp_path / "plan.json"
    status, out, err = loaddomain(
        file, "--database", alias, "--dry-run", "--plan-out", str(plan), *flags
    )
    assert status == 0, err
    assert f"Plan written to {plan}" in out
    assert f"Apply it with: python manage.py loaddomain --apply {plan} --database {alias}" in out
    return str(plan), json.loads(plan.read_text(encoding="utf-8"))


def file_ids(node_file) -> dict:
    data = json.loads(open(node_file, encoding="utf-8").read())["data"]
    return {key: sorted(str(row["id"]) for row in rows) for key, rows in data.items()}


def test_the_plan_names_the_file_the_target_and_every_rows_outcome(node_file, target, tmp_path):
    before = database_snapshot(target)
    path, plan = plan_of(node_file, target, tmp_path)
    assert database_snapshot(target) == before  # a dry run
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert plan["format"] == "datatransfer-plan" and plan["version"] == 1
    assert plan["file"]["path"] == os.path.abspath(node_file)
    assert len(plan["file"]["sha256"]) == 64
    assert plan["target"] == {"database": target, "describedAs": describe(target)}
    assert "password" not in json.dumps(plan["target"]).lower()
    ids = file_ids(node_file)
    for key, table in plan["tables"].items():
        planned = sorted(i for outcome_ids in table["rows"].values() for i in outcome_ids)
        assert planned == ids[key], key
        assert {o: len(i) for o, i in table["rows"].items()} == {
            o: n for o, n in table["counts"].items() if n
        }
    # Every row of the file is new: the fingerprint says each one must still be absent.
    assert plan["tables"]["users"]["rows"] == {"created": ids["users"]}
    assert plan["tables"]["users"]["target"] == dict.fromkeys(ids["users"])


def test_applied_unchanged_the_report_equals_the_plan(node_file, target, tmp_path):
    call_command("loaddomain", node_file, "--database", target, "-v", "0", interactive=False)
    file = renamed_filiere(node_file, tmp_path)
    path, plan = plan_of(file, target, tmp_path)
    assert plan["tables"]["filieres"]["rows"] == {"updated": [FILIERE]}
    report = tmp_path / "report.json"
    status, out, err = loaddomain("--apply", path, "--database", target, "--report", str(report))
    assert status == 0, err
    assert f"Loading {os.path.abspath(file)} into database '{target}'" in out
    assert f"The plan {path} was applied" in out
    applied = json.loads(report.read_text(encoding="utf-8"))
    assert applied["tables"] == {key: t["counts"] for key, t in plan["tables"].items()}
    assert applied["totals"] == plan["totals"]
    assert Filiere.objects.using(target).get(pk=FILIERE).name == "Mathématiques"


def test_the_apply_records_the_very_ids_of_the_plan(node_file, target, tmp_path):
    call_command("loaddomain", node_file, "--database", target, "-v", "0", interactive=False)
    path, _ = plan_of(renamed_filiere(node_file, tmp_path), target, tmp_path)
    plan = read_plan(path)
    checker = PlanChecker(plan)
    ImportJob(plan.import_options(using=target), observers=[checker]).run(plan.file_path)
    assert checker.rows() == plan.rows
    assert checker.fingerprint == plan.fingerprint


def test_a_row_changed_since_the_plan_refuses_the_apply_and_writes_nothing(
    node_file, target, tmp_path
):
    call_command("loaddomain", node_file, "--database", target, "-v", "0", interactive=False)
    path, _ = plan_of(renamed_filiere(node_file, tmp_path), target, tmp_path)
    User.objects.using(target).filter(pk=ADMIN).update(first_name="Changed")
    before = database_snapshot(target)
    status, _, message = loaddomain("--apply", path, "--database", target)
    assert status == 4
    assert message == (
        "The target changed since the plan: users 1 row differ; nothing was written (make a "
        "new plan: loaddomain FILE --dry-run --plan-out PLAN)."
    )
    assert database_snapshot(target) == before
    assert Filiere.objects.using(target).get(pk=FILIERE).name != "Mathématiques"


def test_a_row_that_appeared_since_the_plan_refuses_the_apply(node_file, target, tmp_path):
    path, plan = plan_of(node_file, target, tmp_path)
    permission = plan["tables"]["permissions"]["rows"]["created"][0]
    Permission.objects.using(target).create(id=permission, key="other.key", label="Other")
    before = database_snapshot(target)
    status, _, message = loaddomain("--apply", path, "--database", target)
    assert status == 4
    assert message.startswith("The target changed since the plan: permissions 1 row differ;")
    assert database_snapshot(target) == before


def test_the_file_changed_since_the_plan_is_refused(node_file, target, tmp_path):
    file = tmp_path / "export.json"
    file.write_bytes(open(node_file, "rb").read())
    path, _ = plan_of(str(file), target, tmp_path)
    file.write_bytes(file.read_bytes().replace(b"Math", b"math"))
    status, _, message = loaddomain("--apply", path, "--database", target)
    assert status == 4
    assert message.startswith(f"{file} changed since the plan (its SHA-256 is not the planned")
    assert Filiere.objects.using(target).count() == 0
    # Another file given with the plan is refused alike.
    other = renamed_filiere(node_file, tmp_path)
    status, _, message = loaddomain("--apply", path, other, "--database", target)
    assert status == 4 and message.startswith(f"{other} changed since the plan")


def test_a_plan_used_against_another_target_is_refused(node_file, target, make_database, tmp_path):
    path, _ = plan_of(node_file, target, tmp_path)
    other = make_database("sqlite")
    status, _, message = loaddomain("--apply", path, "--database", other)
    assert status == 2
    assert message == (
        f"The plan was made for {describe(target)}, not for database '{other}' "
        f"({describe(other)}); nothing was written."
    )
    assert Filiere.objects.using(other).count() == 0


@pytest.mark.parametrize(
    "content, said",
    [
        (b"", "is not a plan (not a JSON document of format datatransfer-plan)."),
        (b'{"metadata": {}, "data": {}}', "is not a plan"),
        (b'{"format": "datatransfer-plan", "version": 9}', "is a plan of version 9"),
        (b'{"format": "datatransfer-plan", "version": 1, "file": {}}', "is a broken plan"),
    ],
)
def test_a_file_that_is_not_a_plan_is_one_line_and_exit_2(target, tmp_path, content, said):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    status, _, message = loaddomain("--apply", str(path), "--database", target)
    assert status == 2
    assert message == f"{path} {said}" or message.startswith(f"{path} {said}")
    assert "\n" not in message


def test_the_options_that_change_outcomes_are_the_plans(node_file, target, tmp_path):
    path, plan = plan_of(node_file, target, tmp_path, "--skip-audit")
    assert plan["options"]["exclude"] == ["auditLogs"] and "auditLogs" not in plan["tables"]
    status, out, err = loaddomain("--apply", path, "--database", target)
    assert status == 0, err
    assert "left out, not loaded and not counted above: auditLogs (--skip-audit)" in out
    status, _, message = loaddomain("--apply", path, "--database", target, "--match", "natural")
    assert status == 2
    assert message.startswith("--match is not what the plan was made with: leave it out")


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--plan-out", "{tmp}/p.json"], "--plan-out writes the plan of a dry run: add --dry-run."),
        (["--dry-run", "--plan-out", "{tmp}/none/p.json"], "Cannot write the plan"),
        (["--apply", "{tmp}/p.json", "--dry-run", "--plan-out", "{tmp}/q.json"], "do not go"),
    ],
)
def test_plan_flags_that_do_not_go_together_are_refused(node_file, target, tmp_path, flags, said):
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    status, _, message = loaddomain(node_file, "--database", target, *flags)
    assert status == 2 and said in message


def test_a_plan_checked_again_with_dry_run_writes_nothing(node_file, target, tmp_path):
    path, _ = plan_of(node_file, target, tmp_path)
    status, out, err = loaddomain("--apply", path, "--database", target, "--dry-run")
    assert status == 0, err
    assert f"The plan {path} still holds" in out
    assert Filiere.objects.using(target).count() == 0


def test_plan_and_apply_on_a_prisma_made_database(node_file, make_database, tmp_path):
    target = make_database("prisma")
    call_command("loaddomain", node_file, "--database", target, "-v", "0", interactive=False)
    path, plan = plan_of(renamed_filiere(node_file, tmp_path), target, tmp_path)
    User.objects.using(target).filter(pk=ADMIN).update(last_name="Changed")
    status, _, message = loaddomain("--apply", path, "--database", target)
    assert status == 4 and "users 1 row differ" in message
    assert Filiere.objects.using(target).get(pk=FILIERE).name != "Mathématiques"
    # A new plan of the target as it is now applies, and its report is the plan.
    path, plan = plan_of(renamed_filiere(node_file, tmp_path), target, tmp_path)
    report = tmp_path / "report.json"
    status, _, err = loaddomain("--apply", path, "--database", target, "--report", str(report))
    assert status == 0, err
    applied = json.loads(report.read_text(encoding="utf-8"))
    assert applied["tables"] == {key: t["counts"] for key, t in plan["tables"].items()}
    assert Filiere.objects.using(target).get(pk=FILIERE).name == "Mathématiques"
