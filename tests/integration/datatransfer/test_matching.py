"""`--match natural`: rows the target holds under other ids are matched by natural key,
keep the target's ids, and every link in the file follows them."""

import datetime as dt
import io
import json
import re
from dataclasses import replace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core.models import (
    AuditLog,
    DemandePartage,
    Department,
    Filiere,
    Organization,
    OrganizationInvite,
    Permission,
    User,
)
from datatransfer.registry import natural_key_names
from tests.importing import import_domain
from tests.integration.datatransfer.test_engines import demo_file, run_both  # noqa: F401 (a fixture)
from tests.snapshots import database_snapshot

# The domain's database (the platform's), where these tests load and read rows.
connection = connections["platform"]

FIXED = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
WRITES = ("INSERT", "UPDATE", "DELETE")
ADMIN, ADMIN_EMAIL = "ckuser0000000000000000001", "aminata.kone@ufhb.ci"
PROD_ADMIN, PROD_PERMISSION = "cproduser0000000000000001", "cprodperm0000000000000001"


@pytest.fixture
def admin_file(node_file, tmp_path):
    """The Node.js file with its demande and transaction made by the admin (the user
    every audit log and the organization's owner already point to)."""
    document = json.loads(open(node_file, encoding="utf-8").read())
    document["data"]["demandePartages"][0]["userId"] = ADMIN
    document["data"]["transactions"][0]["userId"] = ADMIN
    path = tmp_path / "admin.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def hold_admin_and_permission(using="platform"):
    """A target that already has the file's admin and its `users.read` under other ids."""
    stamps = {"created_at": FIXED, "updated_at": FIXED}
    Permission.objects.using(using).create(
        id=PROD_PERMISSION, key="users.read", label="Prod", **stamps
    )
    User.objects.using(using).create(
        id=PROD_ADMIN, email=ADMIN_EMAIL, password_hash="prod", **stamps
    )


def run(*args):
    out = io.StringIO()
    call_command("loaddomain", "--no-input", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_matched_rows_keep_the_target_ids_and_every_link_follows(admin_file):
    hold_admin_and_permission()
    report = import_domain(admin_file, match="natural")
    assert report.issues == [] and not report.has_failures
    admin = User.objects.get(email=ADMIN_EMAIL)
    assert admin.pk == PROD_ADMIN and admin.first_name == "Aminata"  # updated from the file
    assert not User.objects.filter(pk=ADMIN).exists()
    assert Permission.objects.get(key="users.read").pk == PROD_PERMISSION
    assert set(admin.permissions.values_list("key", flat=True)) == {
        "users.read",
        "transactions.read",
    }
    assert DemandePartage.objects.get().user_id == PROD_ADMIN
    assert AuditLog.objects.get(action="LOGIN").user_id == PROD_ADMIN
    assert OrganizationInvite.objects.get().invited_by_id == PROD_ADMIN
    assert Organization.objects.get(slug="ufhb").owner_id == PROD_ADMIN  # a link set last
    assert report.matched("users") == 1 and report.matched("permissions") == 1
    assert report.tables["users"]["updated"] == 1 and report.tables["users"]["created"] == 1
    as_dict = report.as_dict()
    assert (
        as_dict["tables"]["users"]["matched"] == 1
        and as_dict["tables"]["auditLogs"]["matched"] == 0
    )
    assert as_dict["totals"]["matched"] == 2
    assert (
        sum(as_dict["totals"][o] for o in ("created", "updated", "unchanged", "skipped", "failed"))
        == 19
    )
    assert as_dict["totals"]["appended"] == 2
    assert as_dict["idMapping"] == {
        "permissions": {"ckperm0000000000000000001": PROD_PERMISSION},
        "users": {ADMIN: PROD_ADMIN},
    }


@pytest.mark.django_db
def test_a_second_run_finds_everything_unchanged_and_writes_nothing(admin_file):
    hold_admin_and_permission()
    import_domain(admin_file, match="natural")
    before = database_snapshot("platform")
    with CaptureQueriesContext(connection) as queries:
        report = import_domain(admin_file, match="natural")
    assert report.totals["unchanged"] == 21 and sum(report.totals.values()) == 21
    assert report.matched("users") == 1  # matched again: the file still has its own ids
    assert [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)] == []
    assert database_snapshot("platform") == before


@pytest.mark.django_db
def test_a_key_holding_a_link_is_matched_after_that_link(admin_file):
    """Department (organization, code): the file's department is the target's once its
    organization is; the filiere and the demande then follow both."""
    Organization.objects.create(
        id="cprodorg00000000000000001", name="UFHB", slug="ufhb", type="UNIVERSITE"
    )
    Department.objects.create(
        id="cproddept0000000000000001",
        organization_id="cprodorg00000000000000001",
        name="Maths",
        code="MATH",
    )
    report = import_domain(admin_file, match="natural")
    assert not report.issues
    assert report.id_mapping["departments"] == {
        "ckdept0000000000000000001": "cproddept0000000000000001"
    }
    assert Department.objects.get().name == "Mathématiques"
    assert Filiere.objects.get().department_id == "cproddept0000000000000001"
    assert DemandePartage.objects.get().target_org_id == "cprodorg00000000000000001"
    assert Organization.objects.get(slug="ufhb").owner_id == ADMIN  # the file's admin, created


@pytest.mark.django_db
def test_a_dry_run_reports_the_same_matches_and_writes_nothing(admin_file):
    hold_admin_and_permission()
    before = database_snapshot("platform")
    dry = import_domain(admin_file, match="natural", dry_run=True)
    assert database_snapshot("platform") == before
    real = import_domain(admin_file, match="natural")
    assert {k: v for k, v in dry.as_dict().items() if k not in ("dryRun", "durationSeconds")} == {
        k: v for k, v in real.as_dict().items() if k not in ("dryRun", "durationSeconds")
    }


@pytest.mark.django_db
def test_the_command_shows_matched_rows_and_writes_the_mapping(admin_file, tmp_path):
    hold_admin_and_permission()
    report_path = tmp_path / "report.json"
    out = run(admin_file, "--match", "natural", "--report", str(report_path))
    assert re.search(
        r"^table\s+created\s+appended\s+updated\s+unchanged\s+skipped\s+failed\s+matched$",
        out,
        re.M,
    )
    assert re.search(r"^users\s+1\s+0\s+1\s+0\s+0\s+0\s+1$", out, re.M)
    assert re.search(r"^total\s+17\s+2\s+2\s+0\s+0\s+0\s+2$", out, re.M)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["idMapping"]["users"] == {ADMIN: PROD_ADMIN}
    assert report["tables"]["users"] == {
        "created": 1,
        "appended": 0,
        "updated": 1,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "unlinked": 0,
        "matched": 1,
    }


@pytest.mark.django_db
def test_match_id_stays_the_default_and_reports_the_conflict_as_before(admin_file, tmp_path):
    hold_admin_and_permission()
    report_path = tmp_path / "report.json"
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:  # the organization written without its owner
        call_command(
            "loaddomain",
            "--no-input",
            admin_file,
            "--report",
            str(report_path),
            stdout=out,
            stderr=io.StringIO(),
        )
    assert failed.value.returncode == 1
    out = out.getvalue()
    assert "matched" not in out
    assert (
        f"conflict: users {ADMIN}: email '{ADMIN_EMAIL}' already belongs to users '{PROD_ADMIN}'"
        in out
    )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert "idMapping" not in report and "matched" not in report["totals"]
    assert (
        report["tables"]["users"]["skipped"] == 1
        and report["tables"]["permissions"]["skipped"] == 1
    )
    assert User.objects.get(pk=PROD_ADMIN).password_hash == "prod"
    assert DemandePartage.objects.count() == 0  # it depends on the skipped admin


@pytest.mark.django_db
def test_strict_and_an_unknown_match_behave_as_before(admin_file):
    from datatransfer.exceptions import DataTransferError

    with pytest.raises(DataTransferError, match="Unknown match 'email'"):
        import_domain(admin_file, match="email")
    hold_admin_and_permission()
    report = import_domain(admin_file, match="natural", strict=True)
    assert not report.has_failures and report.matched("users") == 1


@pytest.fixture
def databases(make_database):
    make_database.vendor = connection.vendor
    return make_database


def test_the_writer_and_its_oracle_match_alike_and_a_second_run_is_unchanged(databases, demo_file):  # noqa: F811
    data = json.loads(demo_file.read_text(encoding="utf-8"))["data"]
    organization = data["organizations"][0]
    department = next(d for d in data["departments"] if d["organizationId"] == organization["id"])

    def prepare(alias):
        stamps = {"created_at": FIXED, "updated_at": FIXED}
        User.objects.using(alias).create(
            id=PROD_ADMIN, email=data["users"][0]["email"], password_hash="x", **stamps
        )
        Permission.objects.using(alias).create(
            id=PROD_PERMISSION, key=data["permissions"][0]["key"], label="P"
        )
        Organization.objects.using(alias).create(
            id="cprodorg00000000000000001",
            name="Prod",
            slug=organization["slug"],
            type="AUTRE",
            **stamps,
        )
        Department.objects.using(alias).create(
            id="cproddept0000000000000001",
            organization_id="cprodorg00000000000000001",
            name="D",
            code=department["code"],
            **stamps,
        )

    first, second = run_both(databases, demo_file, prepare=prepare, twice=True, match="natural")
    assert (
        first["totals"]["matched"] == 4
        and first["totals"]["skipped"] == first["totals"]["failed"] == 0
    )
    assert first["idMapping"]["departments"] == {department["id"]: "cproddept0000000000000001"}
    assert second["totals"]["unchanged"] == sum(
        first["totals"][o] for o in ("created", "appended", "updated", "unchanged")
    )
    assert second["idMapping"] == first["idMapping"]


@pytest.mark.parametrize(
    "names, message", [(("code",), "is not a unique key"), (("nope",), "'nope' is not a column")]
)
def test_a_natural_key_must_be_a_unique_key_of_its_model(monkeypatch, names, message):
    monkeypatch.setattr(Department, "transfer", replace(Department.transfer, natural_key=names))
    with pytest.raises(ImproperlyConfigured, match=message):
        natural_key_names(Department)
