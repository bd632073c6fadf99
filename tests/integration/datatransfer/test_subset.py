"""The subset engine: an organization's rows, every row they reference, nothing else; and
the file loads on its own into an empty database."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from core import models
from datatransfer import subset
from datatransfer.exceptions import DataTransferError
from datatransfer.exporter import export_domain
from datatransfer.registry import table_key as tables_key
from datatransfer.registry import tables_by_key
from datatransfer.subset import collect_subset, organization_scope
from datatransfer.verifier import verify_domain
from tests import factories as f
from tests.engine_names import WRITER_NAMES
from tests.importing import import_domain
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


def organization_with_data(name, *, target=None, previous_block=None, permissions=()):
    """An organization with one row in each of its tables; its demande targets `target`."""
    org = f.OrganizationFactory(slug=name, name=name.upper())
    owner = f.UserFactory(organization=org, permissions=list(permissions))
    org.owner = owner
    org.save()
    department = f.DepartmentFactory(organization=org)
    filiere = f.FiliereFactory(department=department)
    invite = f.OrganizationInviteFactory(organization=org, invited_by=owner)
    abonnement = f.AbonnementFactory(organization=org)
    demande = f.DemandePartageFactory(
        user=owner, target_org=target or org, assigned_org=None, filiere=filiere
    )
    document = f.DocumentPartageFactory(demande_partage=demande)
    block = f.BlockchainBlockFactory(document_partage=document, previous_block=previous_block)
    transaction = f.TransactionFactory(demande_partage=demande, user=owner)
    payment = f.PaymentFactory(
        transaction=transaction, demande_partage=demande, abonnement=abonnement
    )
    log = f.AuditLogFactory(user=owner)
    rows = {
        "organizations": {org.pk},
        "users": {owner.pk},
        "departments": {department.pk},
        "filieres": {filiere.pk},
        "organizationInvites": {invite.pk},
        "abonnements": {abonnement.pk},
        "demandePartages": {demande.pk},
        "documentPartages": {document.pk},
        "blockchainBlocks": {block.pk},
        "transactions": {transaction.pk},
        "payments": {payment.pk},
        "auditLogs": {log.pk},
    }
    return org, block, rows


@pytest.fixture
def world():
    """`alpha` asks `gamma` for a document; `delta` is unrelated, though its block comes
    after alpha's in the chain; global tables have rows."""
    used, unused = f.PermissionFactory(), f.PermissionFactory()
    gamma = f.OrganizationFactory(slug="gamma")
    gamma.owner = f.UserFactory(organization=gamma)
    gamma.save()
    gamma_department = f.DepartmentFactory(organization=gamma)
    genesis = f.BlockchainBlockFactory(document_partage=None, previous_block=None)
    _, alpha_block, alpha = organization_with_data(
        "alpha", target=gamma, previous_block=genesis, permissions=[used]
    )
    _, _, delta = organization_with_data("delta", previous_block=alpha_block, permissions=[unused])
    f.ConfigurationFactory(), f.SiteSettingsFactory(), f.ContactMessageFactory()
    expected = {key: set(ids) for key, ids in alpha.items()}
    own = {key: set(ids) for key, ids in alpha.items()}
    expected["permissions"] = {used.pk}
    expected["organizations"] |= {gamma.pk}
    expected["blockchainBlocks"] |= {genesis.pk}
    references = {
        "permissions": [used.pk],
        "organizations": [gamma.pk],
        "blockchainBlocks": [genesis.pk],
    }
    return {
        "expected": expected,
        "own": own,
        "references": references,
        "delta": delta,
        "gamma": gamma,
        "gamma_department": gamma_department.pk,
    }


def export(tmp_path, slugs, **options):
    path = tmp_path / "subset.json"
    with path.open("w", encoding="utf-8") as stream:
        export_domain(stream, scope=organization_scope(slugs), **options)
    return path, json.loads(path.read_text(encoding="utf-8"))


def table_model(key):
    return tables_by_key()[key].model.__name__


def file_ids(document):
    return {key: {row["id"] for row in rows} for key, rows in document["data"].items()}


def test_the_subset_is_the_organizations_rows_and_the_rows_they_reference(world, tmp_path):
    _, document = export(tmp_path, ["alpha"])
    ids = file_ids(document)
    assert {key: rows for key, rows in ids.items() if rows} == world["expected"]
    for key, rows in world["delta"].items():
        assert not rows & ids.get(key, set()), f"delta's {key} are not alpha's"
    assert world["gamma_department"] not in ids["departments"]


def test_tables_without_a_path_to_an_organization_are_left_out(world, tmp_path):
    _, document = export(tmp_path, ["alpha"])
    left_out = ["configurations", "contactMessages", "siteSettings"]  # sorted by name
    assert document["metadata"]["excludedTables"] == left_out
    assert all(document["data"][key] == [] for key in left_out)
    assert document["metadata"]["tables"]["permissions"] == 1


def test_tables_follow_from_the_model_metadata(world):
    belongs = collect_subset(
        models.Organization, [models.Organization.objects.get(slug="alpha").pk]
    ).belongs
    assert belongs == {
        "organizations",
        "users",
        "departments",
        "filieres",
        "organizationInvites",
        "demandePartages",
        "documentPartages",
        "blockchainBlocks",
        "abonnements",
        "transactions",
        "payments",
        "auditLogs",
    }


def test_the_subset_loads_alone_into_an_empty_database(world, tmp_path, make_database):
    path, document = export(tmp_path, ["alpha"])
    target = make_database("sqlite")
    call_command("loaddomain", "--no-input", str(path), "--database", target, stdout=io.StringIO())
    loaded = {label: set(rows) for label, rows in database_snapshot(target).items()}
    expected = {f"core.{table_model(key)}": rows for key, rows in world["expected"].items()}
    # Audit logs are appended under the target's own ids: as many, whatever the source's ids.
    assert len(loaded.pop("core.AuditLog")) == len(expected.pop("core.AuditLog"))
    assert {label: rows for label, rows in loaded.items() if rows} == expected


def test_two_organizations_and_many_ids_in_one_parameter(world, tmp_path, monkeypatch):
    _, inline = export(tmp_path, ["alpha", "delta"])
    monkeypatch.setattr(subset, "INLINE_LIMIT", 1)
    monkeypatch.setattr(subset, "CHUNK_SIZE", 1)
    _, as_array = export(tmp_path, ["alpha", "delta"])
    assert as_array["data"] == inline["data"]
    assert {"alpha", "delta", "gamma"} == {row["slug"] for row in inline["data"]["organizations"]}


def test_secrets_can_be_left_out_of_a_subset(world, tmp_path):
    _, document = export(tmp_path, ["alpha"], exclude_secrets=True)
    assert {row["passwordHash"] for row in document["data"]["users"]} == {""}
    assert {row["token"] for row in document["data"]["organizationInvites"]} == {""}


def test_an_unknown_slug_is_named():
    with pytest.raises(DataTransferError, match="'nowhere'"):
        organization_scope(["nowhere"])


def test_dumpdomain_organization_writes_the_subset(world, tmp_path):
    path = tmp_path / "alpha.json"
    call_command(
        "dumpdomain",
        str(path),
        "--organization",
        "alpha",
        "--exclude-secrets",
        stdout=io.StringIO(),
    )
    document = json.loads(path.read_text(encoding="utf-8"))
    assert file_ids(document)["organizations"] == world["expected"]["organizations"]
    assert document["metadata"]["secretsExcluded"] is True
    with pytest.raises(CommandError, match="Unknown organization slug.*'nowhere'"):
        call_command("dumpdomain", str(path), "--organization", "nowhere", stdout=io.StringIO())


# ---------------------------------------------------------------------------- references


def test_rows_there_only_as_references_are_listed_and_carry_no_secret(world, tmp_path):
    _, document = export(tmp_path, ["alpha"])
    assert document["metadata"]["references"] == {
        key: sorted(ids) for key, ids in world["references"].items()
    }
    [gamma] = [o for o in document["data"]["organizations"] if o["id"] == world["gamma"].pk]
    assert gamma["ownerId"] is None  # an optional link to a row outside the file
    [genesis] = [
        b
        for b in document["data"]["blockchainBlocks"]
        if b["id"] in world["references"]["blockchainBlocks"]
    ]
    assert genesis["previousBlockId"] is None and genesis["documentPartageId"] is None
    own_users = world["own"]["users"]
    assert {u["id"] for u in document["data"]["users"]} == own_users
    assert all(u["passwordHash"] for u in document["data"]["users"])  # its own: kept
    assert all(i["token"] for i in document["data"]["organizationInvites"])


def test_a_reference_row_keeps_its_required_links_and_drops_its_secrets(world, tmp_path):
    """delta's owner asks alpha for a document: the demande is alpha's (it targets alpha);
    its user, filiere, department and organization are references: present, secrets empty,
    optional links kept only to rows in the file."""
    alpha = models.Organization.objects.get(slug="alpha")
    delta = models.Organization.objects.get(slug="delta")
    asker = models.User.objects.get(pk=next(iter(world["delta"]["users"])))
    filiere = models.Filiere.objects.get(pk=next(iter(world["delta"]["filieres"])))
    demande = f.DemandePartageFactory(
        user=asker, target_org=alpha, assigned_org=None, filiere=filiere
    )
    _, document = export(tmp_path, ["alpha"])
    ids = file_ids(document)
    assert demande.pk in ids["demandePartages"]
    references = document["metadata"]["references"]
    assert asker.pk in references["users"] and delta.pk in references["organizations"]
    assert (
        filiere.pk in references["filieres"] and filiere.department_id in references["departments"]
    )
    [user] = [u for u in document["data"]["users"] if u["id"] == asker.pk]
    assert user["passwordHash"] == "" and user["permissionKeys"] == []
    assert user["organizationId"] == delta.pk  # in the file: kept
    [organization] = [o for o in document["data"]["organizations"] if o["id"] == delta.pk]
    assert organization["ownerId"] == asker.pk  # delta's owner is the asker, in the file
    # Nothing else of delta's: its invites, demandes, documents, payments stay out.
    for key in ("organizationInvites", "demandePartages", "transactions", "payments"):
        assert not world["delta"][key] & ids[key], key


@pytest.fixture
def seeded():
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    return sorted(models.Organization.objects.values_list("slug", flat=True))[:2]


def test_two_seeded_organizations_carry_only_what_they_need(seeded, tmp_path, make_database):
    path, document = export(tmp_path, seeded)
    data, references = document["data"], document["metadata"]["references"]
    chosen = set(models.Organization.objects.filter(slug__in=seeded).values_list("pk", flat=True))
    members = set(models.User.objects.filter(organization__in=chosen).values_list("pk", flat=True))
    # Users of other organizations are there only as references, without their hashes.
    for user in data["users"]:
        if user["id"] not in members:
            assert user["id"] in references["users"] and user["passwordHash"] == ""
    assert {o["id"] for o in data["organizations"]} - chosen == set(references["organizations"])
    # The figures of docs/commands.md (seeddemo is the same on every database).
    assert sum(map(len, data.values())) == 186
    assert sum(map(len, references.values())) == 56
    assert (len(references["organizations"]), len(references["users"])) == (7, 3)
    # Every reference is needed: some row of the file links to it, a reference only by a
    # required link.
    tables = tables_by_key()
    wanted = {key: set() for key in data}
    for key, rows in data.items():
        table = tables[key]
        for row in rows:
            reference = row[table.pk.key] in set(references.get(key, ()))
            for spec in table.fields:
                if spec.field.is_relation and row[spec.key] is not None:
                    if not reference or not spec.field.null:
                        wanted[tables_key(spec.field.related_model)].add(row[spec.key])
            if key == "users" and not reference:
                wanted["permissions"] |= {
                    p.pk for p in models.Permission.objects.filter(key__in=row["permissionKeys"])
                }
    for key, ids in references.items():
        assert set(ids) <= wanted[key], key
    # The file loads alone into an empty database: no failure, no conflict.
    target = make_database("sqlite")
    report = import_domain(str(path), using=target)
    assert not report.has_failures and not report.has_conflicts, report.issues[:3]


@pytest.mark.parametrize("written_by", WRITER_NAMES, indirect=True)
def test_loading_a_subset_never_changes_the_rows_it_carries_as_references(
    world, tmp_path, written_by
):
    path, _ = export(tmp_path, ["alpha"])
    gamma = world["gamma"]
    models.Organization.objects.filter(pk=gamma.pk).update(name="Gamma, renamed since")
    models.Organization.objects.filter(slug="alpha").update(name="Alpha, renamed since")
    before = database_snapshot("platform")
    report = import_domain(str(path))
    after = database_snapshot("platform")
    assert after["core.Organization"][gamma.pk] == before["core.Organization"][gamma.pk]
    assert after["core.Organization"][gamma.pk]["owner_id"] == gamma.owner_id  # not nulled
    assert models.Organization.objects.get(slug="alpha").name == "ALPHA"  # its own: loaded
    assert report.tables["organizations"]["updated"] == 1
    assert report.tables["organizations"]["unchanged"] == 1
    assert any(note.startswith("3 rows in the file only as references") for note in report.notes)
    verified = verify_domain(str(path))
    assert verified.tables["organizations"].differing == []
    assert verified.tables["organizations"].matching == 2


def test_a_reference_missing_from_the_target_is_created_from_the_file(
    world, tmp_path, make_database
):
    path, _ = export(tmp_path, ["alpha"])
    target = make_database("sqlite")
    import_domain(str(path), using=target)
    gamma = models.Organization.objects.using(target).get(pk=world["gamma"].pk)
    assert gamma.owner_id is None and gamma.slug == "gamma"


def test_the_summary_counts_the_rows_written_as_references(world, tmp_path):
    out = io.StringIO()
    call_command("dumpdomain", str(tmp_path / "alpha.json"), "--organization", "alpha", stdout=out)
    assert re.search(r"^table\s+rows\s+as references$", out.getvalue(), re.M)
    assert re.search(r"^organizations\s+2\s+1$", out.getvalue(), re.M)
    assert re.search(r"^total\s+\d+\s+3$", out.getvalue(), re.M)
