"""The subset engine: an organization's rows, every row they reference, nothing else; and
the file loads on its own into an empty database."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from core import models
from datatransfer import subset
from datatransfer.exceptions import DataTransferError
from datatransfer.exporter import export_domain
from datatransfer.registry import tables_by_key
from datatransfer.subset import collect_subset, organization_scope
from tests import factories as f
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
    expected["permissions"] = {used.pk}
    expected["organizations"] |= {gamma.pk}
    expected["users"] |= {gamma.owner_id}
    expected["blockchainBlocks"] |= {genesis.pk}
    return {"expected": expected, "delta": delta, "gamma_department": gamma_department.pk}


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
    left_out = ["configurations", "contactMessages", "siteSettings"]
    assert document["metadata"]["excludedTables"] == left_out
    assert all(document["data"][key] == [] for key in left_out)
    assert document["metadata"]["tables"]["permissions"] == 1


def test_tables_follow_from_the_model_metadata(world):
    _, belongs = collect_subset(
        models.Organization, [models.Organization.objects.get(slug="alpha").pk]
    )
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
    call_command("loaddomain", str(path), "--database", target, stdout=io.StringIO())
    loaded = {label: set(rows) for label, rows in database_snapshot(target).items()}
    assert {label: rows for label, rows in loaded.items() if rows} == {
        f"core.{table_model(key)}": rows for key, rows in world["expected"].items()
    }


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
