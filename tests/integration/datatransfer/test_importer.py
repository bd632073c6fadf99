import datetime as dt
import json

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core.models import AuditLog, BlockchainBlock, Organization, Permission, User
from datatransfer.exceptions import StrictModeFailure
from tests.importing import import_domain
from tests.snapshots import database_snapshot

# The domain's database (the platform's), where these tests load and read rows.
connection = connections["platform"]

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


def edited(node_file, tmp_path, change):
    """A copy of the Node.js file with `change(data)` applied."""
    document = json.loads(open(node_file, encoding="utf-8").read())
    change(document["data"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_a_node_file_loads_with_every_value_kept(node_file):
    report = import_domain(node_file)
    assert report.totals["created"] == 19 and not report.has_failures
    assert report.tables["auditLogs"]["appended"] == 2  # audit logs take the target's ids
    ufhb = Organization.objects.get(slug="ufhb")
    assert ufhb.owner_id == "ckuser0000000000000000001"  # the cycle, closed after users
    assert ufhb.updated_at == dt.datetime(2025, 1, 11, 10, tzinfo=dt.UTC)
    second = BlockchainBlock.objects.get(index=2)
    assert second.previous_block_id == "ckbloc0000000000000000001"  # pointed forward in the file
    assert second.nonce == 9007199254740993
    aminata = User.objects.get(email="aminata.kone@ufhb.ci")
    assert aminata.password_hash.startswith("$2b$10$abcdef")
    assert set(aminata.permissions.values_list("key", flat=True)) == {
        "users.read",
        "transactions.read",
    }
    assert str(ufhb.abonnements.get().start_date) == "2025-01-01"


def test_a_second_import_finds_everything_unchanged_and_writes_nothing(node_file):
    import_domain(node_file)
    with CaptureQueriesContext(connection) as queries:
        report = import_domain(node_file)
    assert report.totals["unchanged"] == 21
    assert sum(report.totals.values()) == 21
    assert [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)] == []


def test_a_dry_run_reports_what_a_real_run_does_and_leaves_the_database_as_it_was(
    node_file, tmp_path
):
    Permission.objects.create(
        id="ckperm0000000000000000001", key="users.read", label="Ancien libellé"
    )
    changed = edited(
        node_file, tmp_path, lambda data: data["users"][1].update(organizationId="cknowhere")
    )
    before = database_snapshot("platform")
    dry = import_domain(changed, dry_run=True)
    assert database_snapshot("platform") == before
    real = import_domain(changed)
    assert dry.dry_run and not real.dry_run
    assert dry.tables == real.tables
    assert [i.as_dict() for i in dry.issues] == [i.as_dict() for i in real.issues]
    assert real.tables["permissions"]["updated"] == 1


def test_a_unique_key_held_by_another_row_is_skipped_with_its_dependants(node_file):
    User.objects.create(
        id="ckprodadmin00000000000001", email="jean.dupont@example.fr", password_hash="prod"
    )
    report = import_domain(node_file)
    issues = {(i.table, i.id): i for i in report.issues}
    conflict = issues[("users", "ckuser0000000000000000002")]
    assert conflict.kind == "conflict"
    assert (
        "email 'jean.dupont@example.fr' already belongs to users 'ckprodadmin00000000000001'"
        in conflict.message
    )
    for table in ("demandePartages", "documentPartages", "transactions", "payments"):
        assert report.tables[table]["skipped"] == 1, table
    assert report.tables["blockchainBlocks"]["skipped"] == 1  # block 2 -> document, skipped
    assert User.objects.get(email="jean.dupont@example.fr").password_hash == "prod"
    assert report.totals["failed"] == 0  # a conflict is not a failure
    assert not User.objects.filter(id="ckuser0000000000000000002").exists()


def test_a_reference_found_nowhere_fails_that_row_only_with_a_precise_message(node_file, tmp_path):
    path = edited(
        node_file, tmp_path, lambda d: d["transactions"][0].update(demandePartageId="cnowhere")
    )
    report = import_domain(path)
    [issue] = [i for i in report.issues if i.table == "transactions"]
    assert (
        issue.message
        == "demandePartageId 'cnowhere' exists neither in the file nor in the database"
    )
    assert report.tables["transactions"]["failed"] == 1
    assert report.tables["payments"]["failed"] == 1  # its payment depends on it
    assert report.tables["auditLogs"]["appended"] == 2


def test_strict_rolls_everything_back_at_the_first_failure(node_file, tmp_path):
    path = edited(node_file, tmp_path, lambda d: d["payments"][0].update(amount="not money"))
    with pytest.raises(StrictModeFailure, match="payments ckpaym0000000000000000001: amount"):
        import_domain(path, strict=True)
    assert not Organization.objects.exists()


def test_excluded_tables_are_left_alone(node_file):
    report = import_domain(node_file, exclude={"auditLogs"})
    assert "auditLogs" not in report.tables
    assert not AuditLog.objects.exists()


def test_appended_audit_logs_take_the_targets_next_ids_and_the_sequence_follows(node_file):
    first = AuditLog.objects.create(action="PROD", entity="User").id
    import_domain(node_file)
    # The file's ids 17 and 18 are development's numbering: here they come next in line.
    assert sorted(AuditLog.objects.values_list("id", flat=True)) == [first, first + 1, first + 2]
    assert AuditLog.objects.get(id=first + 1).action == "LOGIN"
    assert AuditLog.objects.create(action="LOGIN", entity="User").id == first + 3


def test_permissions_end_exactly_as_the_file_says(node_file):
    import_domain(node_file)
    extra = Permission.objects.create(key="payments.refund", label="Rembourser")
    User.objects.get(email="aminata.kone@ufhb.ci").permissions.add(extra)
    report = import_domain(node_file)
    assert report.tables["users"]["updated"] == 1
    assert set(
        User.objects.get(email="aminata.kone@ufhb.ci").permissions.values_list("key", flat=True)
    ) == {
        "users.read",
        "transactions.read",
    }
