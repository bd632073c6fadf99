"""Write policies declared on the models (the `policy` of their `transfer`): audit logs
are append-only, blockchain blocks immutable, and insert-only, a plug-in declared here on
Configuration alone; a refused row whose id the target holds does not carry its
dependants down. Every test runs with every writer this run's database offers
(tests/engine_names.py)."""

import json
import types
from dataclasses import replace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core.models import AuditLog, BlockchainBlock, Configuration, Department, Organization, User
from datatransfer.registry import declaration, domain_models, domain_tables, transfer_policy
from datatransfer.verifier import verify_domain
from tests.engine_names import WRITER_NAMES, WRITERS_ON, use_writer
from tests.importing import import_domain
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db

UFHB = "ckorga0000000000000000001"
AMINATA = "ckuser0000000000000000001"


def edited(node_file, tmp_path, change, name="edited.json"):
    """A copy of the Node.js file with `change(data)` applied."""
    document = json.loads(open(node_file, encoding="utf-8").read())
    change(document["data"])
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def audit_row(pk, action, created_at, user=None, details=None):
    return {
        "id": pk,
        "userId": user,
        "action": action,
        "entity": "User",
        "entityId": user,
        "details": details,
        "ipAddress": "10.0.0.9",
        "userAgent": "curl/8",
        "createdAt": created_at,
    }


def contents():
    """The audit rows of the target as (action, createdAt) pairs, by id."""
    return {
        log.pk: (log.action, log.created_at.isoformat()) for log in AuditLog.objects.order_by("pk")
    }


# ---------------------------------------------------------------------------- append-only


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_audit_logs_are_appended_under_new_ids_and_never_overwrite_the_targets(
    node_file, tmp_path, written_by
):
    import_domain(node_file, exclude={"auditLogs"})
    # Production's own events, numbered by its own sequence.
    first = AuditLog.objects.create(
        action="PROD_LOGIN", entity="User", created_at="2025-02-01T08:00:00Z"
    )
    second = AuditLog.objects.create(
        action="PROD_EXPORT",
        entity="User",
        entity_id=AMINATA,
        user_id=AMINATA,
        ip_address="10.0.0.9",
        user_agent="curl/8",
        created_at="2025-02-02T08:00:00Z",
    )
    before = contents()
    # Development's events carry ids of their own: the same numbers mean other events.
    path = edited(
        node_file,
        tmp_path,
        lambda data: data.update(
            auditLogs=[
                audit_row(first.pk, "DEV_LOGIN", "2025-01-20T09:00:00.000Z"),
                # The very event production already holds (imported before): the same content.
                audit_row(second.pk, "PROD_EXPORT", "2025-02-02T08:00:00.000Z", user=AMINATA),
                audit_row(second.pk + 1, "DEV_LOGOUT", "2025-01-20T10:00:00.000Z"),
            ]
        ),
    )
    report = import_domain(path)
    counts = report.tables["auditLogs"]
    assert (counts["appended"], counts["unchanged"]) == (2, 1), counts
    assert counts["created"] == counts["updated"] == counts["skipped"] == counts["failed"] == 0
    after = contents()
    assert {pk: after[pk] for pk in before} == before  # production's rows untouched
    new = {pk: value for pk, value in after.items() if pk not in before}
    # New ids, the target's next ones, in the file's order.
    assert new == {
        second.pk + 1: ("DEV_LOGIN", "2025-01-20T09:00:00+00:00"),
        second.pk + 2: ("DEV_LOGOUT", "2025-01-20T10:00:00+00:00"),
    }
    # The sequence is where the new rows left it: the platform's next event does not collide.
    assert AuditLog.objects.create(action="NEXT", entity="User").pk == second.pk + 3

    again = import_domain(path).tables["auditLogs"]
    assert (again["appended"], again["unchanged"]) == (0, 3), again
    assert AuditLog.objects.count() == 5


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_rows_of_the_same_content_are_as_many_events_and_links_are_checked(
    node_file, tmp_path, written_by
):
    details = {"a": 1, "b": [1, 2]}
    path = edited(
        node_file,
        tmp_path,
        lambda data: data.update(
            auditLogs=[
                audit_row(1, "LOGIN", "2025-01-20T09:00:00.000Z", user=AMINATA, details=details),
                # The same event again, spelled otherwise: another id, keys in another order.
                audit_row(
                    2, "LOGIN", "2025-01-20T09:00:00Z", user=AMINATA, details={"b": [1, 2], "a": 1}
                ),
                audit_row(3, "LOGIN", "2025-01-20T09:00:00.000Z", user="cnobody"),
                audit_row(4, "LOGIN", "2025-01-20T09:00:00.000Z", user=AMINATA, details={"a": 2}),
                # And once more, in the next batch.
                audit_row(5, "LOGIN", "2025-01-20T09:00:00.000Z", user=AMINATA, details=details),
            ]
        ),
    )
    report = import_domain(path, batch_size=3)
    counts = report.tables["auditLogs"]
    # Three rows of one content are three events (the same action by the same user in the
    # same millisecond), however spelled: none is lost.
    assert (counts["appended"], counts["unchanged"], counts["failed"]) == (4, 0, 1), counts
    [issue] = [i for i in report.issues if i.table == "auditLogs"]
    assert issue.id == "3" and "userId 'cnobody' exists neither" in issue.message
    assert AuditLog.objects.count() == 4
    # Loaded again: the target holds the three already, nothing is appended.
    again = import_domain(path, batch_size=3).tables["auditLogs"]
    assert (again["appended"], again["unchanged"], again["failed"]) == (0, 4, 1), again
    assert AuditLog.objects.count() == 4


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_dry_run_reports_the_appended_rows_and_leaves_the_next_id_alone(
    node_file, tmp_path, written_by
):
    import_domain(node_file, exclude={"auditLogs"})
    before = AuditLog.objects.create(action="PROD", entity="User").pk
    path = edited(
        node_file,
        tmp_path,
        lambda data: data.update(
            auditLogs=[audit_row(10000, "DEV", "2025-01-20T09:00:00.000Z"), *data["auditLogs"]]
        ),
    )
    snapshot = database_snapshot("platform")
    report = import_domain(path, dry_run=True)
    assert report.tables["auditLogs"]["appended"] == 3
    assert database_snapshot("platform") == snapshot
    assert AuditLog.objects.create(action="NEXT", entity="User").pk == before + 1


def test_a_batch_of_audit_logs_is_matched_with_one_query(node_file, tmp_path, monkeypatch):
    rows = [audit_row(n, "LOGIN", f"2025-01-20T09:00:{n:02}.000Z") for n in range(1, 41)]
    path = edited(node_file, tmp_path, lambda data: data.update(auditLogs=rows))
    import_domain(path, exclude={"auditLogs"})
    with CaptureQueriesContext(connections["platform"]) as queries:
        use_writer(monkeypatch, "portable")  # the Writer's walk, batch by batch
        report = import_domain(path, batch_size=20)
    assert report.tables["auditLogs"]["appended"] == 40
    # (PostgreSQL reads the lookup's rows through a server-side cursor: DECLARE ... SELECT)
    reads = [q["sql"] for q in queries if "SELECT" in q["sql"] and 'FROM "AuditLog"' in q["sql"]]
    assert len(reads) == 1 + 2, reads  # is the table empty; then one lookup per batch


def test_a_table_with_an_integer_key_that_upserts_has_its_sequence_moved_past_the_file_ids(
    monkeypatch, node_file
):
    monkeypatch.setattr(AuditLog, "transfer", replace(AuditLog.transfer, policy="upsert"))
    domain_tables.cache_clear()
    try:
        report = import_domain(node_file)
    finally:
        monkeypatch.undo()
        domain_tables.cache_clear()
    assert report.tables["auditLogs"]["created"] == 2
    assert AuditLog.objects.create(action="NEXT", entity="User").pk == 19


def sequence_state(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute('SELECT last_value, is_called FROM "AuditLog_id_seq"')
        return cursor.fetchone()


@pytest.mark.parametrize("written_by", WRITERS_ON["postgresql"], indirect=True)
def test_a_dry_run_never_moves_a_postgresql_sequence(
    make_database, node_file, tmp_path, written_by
):
    target = make_database("postgresql")
    path = edited(
        node_file,
        tmp_path,
        lambda data: data.update(
            auditLogs=[audit_row(10000, "DEV", "2025-01-20T09:00:00.000Z"), *data["auditLogs"]]
        ),
    )
    assert sequence_state(target) == (1, False)
    dry = import_domain(path, using=target, dry_run=True)
    assert sequence_state(target) == (1, False)
    assert not any(database_snapshot(target).values())
    real = import_domain(path, using=target)
    assert dry.as_dict()["tables"] == real.as_dict()["tables"]
    assert real.tables["auditLogs"]["appended"] == 3
    assert sequence_state(target) == (3, True)  # three new ids from the sequence, no jump
    AuditLog.objects.using(target).create(action="PROD", entity="User")
    before = sequence_state(target)
    import_domain(path, using=target, dry_run=True)
    assert sequence_state(target) == before == (4, True)


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_second_import_appends_nothing_whatever_postgresql_does_to_json_numbers(
    make_database, node_file, tmp_path, written_by
):
    target = make_database("postgresql")
    details = {"big": 4.309306827795753e16, "hundred": 1e2, "half": 0.5, "list": [1.0, True]}
    path = edited(
        node_file,
        tmp_path,
        lambda data: data["auditLogs"].append(
            audit_row(19, "PAY", "2025-01-20T09:00:00.123456Z", details=details)
        ),
    )
    first = import_domain(path, using=target)
    assert first.tables["auditLogs"]["appended"] == 3
    again = import_domain(path, using=target)
    assert (again.tables["auditLogs"]["appended"], again.tables["auditLogs"]["unchanged"]) == (0, 3)


# ---------------------------------------------------------------------------- immutable


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_an_existing_block_is_never_changed_and_a_different_one_is_a_conflict(
    node_file, written_by
):
    import_domain(node_file)
    BlockchainBlock.objects.filter(index=1).update(nonce=7)  # the target's own, different block
    BlockchainBlock.objects.filter(index=2).delete()
    before = database_snapshot("platform")["core.BlockchainBlock"]

    report = import_domain(node_file)
    counts = report.tables["blockchainBlocks"]
    assert (counts["skipped"], counts["created"], counts["updated"]) == (1, 1, 0), counts
    [issue] = [i for i in report.issues if i.table == "blockchainBlocks"]
    assert issue.kind == "conflict" and issue.id == "ckbloc0000000000000000001"
    assert "immutable" in issue.message and "nonce" in issue.message
    assert BlockchainBlock.objects.get(index=1).nonce == 7
    # The block that links to the refused one still comes in: its parent is there.
    second = BlockchainBlock.objects.get(index=2)
    assert second.previous_block_id == "ckbloc0000000000000000001"
    after = database_snapshot("platform")["core.BlockchainBlock"]
    assert after["ckbloc0000000000000000001"] == before["ckbloc0000000000000000001"]

    # The same block, identical: unchanged, as any other row.
    BlockchainBlock.objects.filter(index=1).update(nonce=42)
    assert import_domain(node_file).tables["blockchainBlocks"]["unchanged"] == 2


# ---------------------------------------------------------------------------- insert-only


@pytest.fixture
def insert_only_configurations(monkeypatch):
    """Configuration declared insert-only on the model, and nothing else changed: the
    policy is its own module (datatransfer/policies/insert_only.py), found by its name."""
    declared = replace(declaration(Configuration), policy="insert-only")
    monkeypatch.setattr(Configuration, "transfer", declared)
    domain_tables.cache_clear()  # the registry reads the declarations again
    yield
    domain_tables.cache_clear()  # and again once the declaration is back


def configuration_row(pk, key, value):
    return {
        "id": pk,
        "key": key,
        "value": value,
        "description": None,
        "createdAt": "2025-01-10T08:00:00.000Z",
        "updatedAt": "2025-01-10T08:00:00.000Z",
    }


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_an_insert_only_row_is_created_once_and_the_targets_version_is_kept(
    insert_only_configurations, node_file, tmp_path, written_by
):
    assert {t.key: t.policy for t in domain_tables()}["configurations"] == "insert-only"
    first = import_domain(node_file).tables["configurations"]
    assert first["created"] == 1, first
    # Production set its own fee since; development added a setting.
    edited_fee = {"amount": 3000, "currency": "XOF"}
    Configuration.objects.filter(key="fees.dossier").update(value=edited_fee)
    path = edited(
        node_file,
        tmp_path,
        lambda data: data["configurations"].append(
            configuration_row("ckconf0000000000000000002", "fees.new", {"amount": 1})
        ),
    )

    report = import_domain(path)
    counts = report.tables["configurations"]
    assert (counts["created"], counts["unchanged"]) == (1, 1), counts
    assert counts["updated"] == counts["skipped"] == counts["failed"] == 0, counts
    assert [i for i in report.issues if i.table == "configurations"] == []
    assert Configuration.objects.get(key="fees.dossier").value == edited_fee  # never updated
    assert Configuration.objects.get(key="fees.new").value == {"amount": 1}
    # verify checks that the rows are there, not the values the import leaves alone.
    compared = verify_domain(path).tables["configurations"]
    assert compared.agrees and compared.matching == 2, compared.as_dict()
    again = import_domain(path).tables["configurations"]
    assert (again["unchanged"], again["created"], again["updated"]) == (2, 0, 0), again


def test_an_insert_only_model_cannot_have_a_many_to_many(monkeypatch):
    monkeypatch.setattr(User, "transfer", replace(declaration(User), policy="insert-only"))
    with pytest.raises(ImproperlyConfigured, match="an insert-only model cannot have any"):
        transfer_policy(User, domain_models())


# ---------------------------------------------------------------------------- cascades


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_conflict_on_a_row_the_target_holds_does_not_skip_its_dependants(
    node_file, tmp_path, written_by
):
    import_domain(node_file)
    # The target renamed UFHB, and another organization took its old slug since.
    Organization.objects.filter(pk=UFHB).update(slug="ufhb-historique")
    Organization.objects.create(id="cprodorg0000000000000001", name="X", slug="ufhb", type="AUTRE")
    Department.objects.filter(pk="ckdept0000000000000000001").update(name="Ancien nom")
    path = edited(
        node_file,
        tmp_path,
        lambda data: data["departments"].append(
            dict(data["departments"][0], id="ckdept0000000000000000002", code="PHYS")
        ),
    )
    report = import_domain(path)
    assert report.totals["skipped"] == 1, [str(i) for i in report.issues]
    [issue] = report.issues
    assert issue.table == "organizations" and "slug 'ufhb' already belongs to" in issue.message
    assert report.tables["departments"]["created"] == report.tables["departments"]["updated"] == 1
    assert report.tables["users"]["unchanged"] == 2
    assert Department.objects.get(pk="ckdept0000000000000000002").organization_id == UFHB
    assert Organization.objects.get(pk=UFHB).slug == "ufhb-historique"


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_failed_row_the_target_holds_does_not_fail_its_dependants(
    node_file, tmp_path, written_by
):
    import_domain(node_file)
    path = edited(node_file, tmp_path, lambda data: data["organizations"][0].update(type="NOPE"))
    report = import_domain(path)
    assert report.totals["failed"] == 1 and report.totals["skipped"] == 0, [
        str(i) for i in report.issues
    ]


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_a_conflict_on_a_row_the_target_lacks_still_skips_its_dependants(node_file, written_by):
    Organization.objects.create(id="cprodorg0000000000000001", name="X", slug="ufhb", type="AUTRE")
    report = import_domain(node_file)
    assert report.tables["organizations"]["skipped"] == 1
    assert report.tables["departments"]["skipped"] == 1
    assert report.tables["users"]["skipped"] == 1  # Aminata, a member of UFHB
    messages = [i.message for i in report.issues if i.table == "users"]
    assert messages == [f"organizationId '{UFHB}': organizations '{UFHB}' was skipped"]
    assert not User.objects.filter(pk=AMINATA).exists()


# ---------------------------------------------------------------------------- declarations


def test_the_policies_are_read_from_the_models():
    policies = {table.key: table.policy for table in domain_tables()}
    assert policies.pop("auditLogs") == "append-only"
    assert policies.pop("blockchainBlocks") == "immutable"
    assert set(policies.values()) == {"upsert"}


@pytest.mark.parametrize(
    "model, policy, message",
    [
        (Department, "keep", "'keep' is not one of upsert, append-only, immutable"),
        (User, "immutable", "its many-to-many links would change"),
        (Organization, "append-only", "its primary key is not an auto-incrementing integer"),
        (User, "append-only", "its primary key is not an auto-incrementing integer"),
    ],
)
def test_a_policy_the_engines_cannot_honour_is_refused(monkeypatch, model, policy, message):
    monkeypatch.setattr(model, "transfer", replace(declaration(model), policy=policy))
    with pytest.raises(ImproperlyConfigured, match=message):
        transfer_policy(model, domain_models())


def test_an_append_only_model_must_not_be_linked_to(monkeypatch):
    declared = AuditLog.transfer
    monkeypatch.setattr(AuditLog, "transfer", replace(declared, natural_key=("id",)))
    with pytest.raises(ImproperlyConfigured, match="it declares a natural_key"):
        transfer_policy(AuditLog, domain_models())
    monkeypatch.setattr(AuditLog, "transfer", declared)
    linking = types.SimpleNamespace(
        _meta=types.SimpleNamespace(
            label="core.Note",
            concrete_fields=[types.SimpleNamespace(is_relation=True, related_model=AuditLog)],
            local_many_to_many=[],
        )
    )
    with pytest.raises(ImproperlyConfigured, match="core.Note link"):
        transfer_policy(AuditLog, [*domain_models(), linking])
