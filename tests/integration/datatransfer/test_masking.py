"""Anonymized exports of the demo data (core/demo.py), on PostgreSQL databases made from
Prisma's DDL (SQLite when the suite runs on SQLite): no person's email, name, phone,
password hash or token is left in the file; it loads into an empty database with nothing
failed; a second run under the same key loads as unchanged; another key masks otherwise."""

import io
import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from core.demo import seed_demo
from core.models import (
    BlockchainBlock,
    ContactMessage,
    DemandePartage,
    Organization,
    OrganizationInvite,
    Payment,
    SiteSettings,
    User,
)
from datatransfer.exceptions import DataTransferError
from datatransfer.export_job import ExportJob, ExportOptions
from datatransfer.masks import DEV_PASSWORD_HASH, EMAIL_DOMAIN, Keyed
from datatransfer.models import ExportRecord
from datatransfer.registry import tables_by_key
from tests.importing import import_domain

pytestmark = pytest.mark.django_db(transaction=True)

KEY, OTHER_KEY = "staging key 1", "staging key 2"
PERSONAL_JSON = {"nom", "téléphone", "signataires"}  # where the demo's JSON names people


@pytest.fixture
def vendor():
    """Databases made from Prisma's DDL on PostgreSQL, migrated SQLite files otherwise."""
    return "prisma" if connection.vendor == "postgresql" else "sqlite"


@pytest.fixture
def demo(make_database, vendor):
    source = make_database(vendor)
    seed_demo(scale=1, seed=42, using=source)
    return source


def export(source, path, key=KEY, **options) -> dict:
    """Export `source` to `path`, anonymized under `key`; return the document."""
    ExportJob(
        ExportOptions(output=str(path), using=source, anonymize=True, anonymize_key=key, **options)
    ).run()
    return json.loads(path.read_text(encoding="utf-8"))


def json_strings(value, names=()):
    """The strings of a JSON value found under the keys `names` (anywhere, when empty)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not names or key in names:
                yield from json_strings(item)
            else:
                yield from json_strings(item, names)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item, names)
    elif isinstance(value, str) and not names:
        yield value


def source_values(using) -> dict[str, set]:
    """Every personal value of the source: {kind: values}."""
    users = User.objects.using(using)
    invites = OrganizationInvite.objects.using(using)
    messages = ContactMessage.objects.using(using)
    organizations = Organization.objects.using(using)
    json_values = [
        *DemandePartage.objects.using(using).values_list("metadata", flat=True),
        *Payment.objects.using(using).values_list("metadata", flat=True),
        *BlockchainBlock.objects.using(using).values_list("data", flat=True),
    ]
    values = {
        "emails": {
            *users.values_list("email", flat=True),
            *invites.values_list("email", flat=True),
            *messages.values_list("email", flat=True),
            *organizations.values_list("email", flat=True),
            *SiteSettings.objects.using(using).values_list("contact_email", flat=True),
        },
        "names": {
            *users.values_list("first_name", flat=True),
            *users.values_list("last_name", flat=True),
        },
        "full names": set(messages.values_list("name", flat=True)),
        "phones": {
            *users.values_list("phone", flat=True),
            *organizations.values_list("phone", flat=True),
        },
        "addresses": set(organizations.values_list("address", flat=True)),
        "hashes": set(users.values_list("password_hash", flat=True)),
        "tokens": set(invites.values_list("token", flat=True)),
        "in JSON": {s for value in json_values for s in json_strings(value, PERSONAL_JSON)},
    }
    return {kind: {v for v in found if v} for kind, found in values.items()}


def test_a_masked_export_of_the_demo_holds_none_of_its_personal_values(demo, tmp_path):
    path = tmp_path / "masked.json"
    document = export(demo, path)
    text = path.read_text(encoding="utf-8")
    values = source_values(demo)
    assert all(len(found) > 5 for found in values.values()), values
    for kind, found in values.items():
        # A first or last name is looked for as a whole value ("Payet"), the rest anywhere.
        spelled = {json.dumps(v, ensure_ascii=False) for v in found}
        if kind != "names":
            spelled = {s[1:-1] for s in spelled}
        assert [s for s in spelled if s in text] == [], kind
    users = document["data"]["users"]
    assert {row["passwordHash"] for row in users} == {DEV_PASSWORD_HASH}
    assert all(row["email"].endswith("@" + EMAIL_DOMAIN) for row in users)


def test_ids_links_dates_amounts_and_enums_are_kept(demo, tmp_path):
    masked = export(demo, tmp_path / "masked.json")["data"]
    ExportJob(ExportOptions(output=str(tmp_path / "plain.json"), using=demo)).run()
    plain = json.loads((tmp_path / "plain.json").read_text(encoding="utf-8"))["data"]
    for key, table in tables_by_key().items():
        masked_keys = {spec.key for spec, _ in table.masks}
        assert len(masked[key]) == len(plain[key])
        for before, after in zip(plain[key], masked[key], strict=True):
            kept = {k: v for k, v in before.items() if k not in masked_keys}
            assert {k: after[k] for k in kept} == kept


def test_it_loads_into_an_empty_database_and_again_unchanged(demo, make_database, vendor, tmp_path):
    first = export(demo, tmp_path / "first.json")
    target = make_database(vendor)
    report = import_domain(str(tmp_path / "first.json"), using=target)
    assert report.totals["failed"] == report.totals["skipped"] == 0
    assert report.totals["created"] + report.totals["appended"] == 1176
    # A second run, under the same key: the same file's data, every row unchanged.
    second = export(demo, tmp_path / "second.json")
    assert second["data"] == first["data"]
    again = import_domain(str(tmp_path / "second.json"), using=target)
    assert again.totals["unchanged"] == 1176, again.totals
    masked_user = first["data"]["users"][0]
    assert User.objects.using(target).get(pk=masked_user["id"]).email == masked_user["email"]


def test_another_key_gives_other_masks(demo, tmp_path):
    one = export(demo, tmp_path / "one.json")
    two = export(demo, tmp_path / "two.json", key=OTHER_KEY)
    for key, field in [
        ("users", "email"),
        ("users", "phone"),
        ("organizationInvites", "token"),
        ("contactMessages", "message"),
    ]:
        pairs = [
            (a[field], b[field])
            for a, b in zip(one["data"][key], two["data"][key], strict=True)
            if a[field]
        ]
        assert pairs and all(a != b for a, b in pairs), (key, field)
    assert one["metadata"]["masked"]["key"] == Keyed(KEY).key_id
    assert two["metadata"]["masked"]["key"] == Keyed(OTHER_KEY).key_id != Keyed(KEY).key_id


def test_the_metadata_says_it_is_masked_and_the_manifest_covers_it(demo, tmp_path):
    document = export(demo, tmp_path / "masked.json")
    masked = document["metadata"]["masked"]
    assert masked["masks"]["users"]["email"] == "email"
    assert len(masked["declaration"]) == 16 and KEY not in json.dumps(document["metadata"])
    # The manifest is over the masked rows: one changed value is refused as altered.
    document["data"]["users"][0]["firstName"] = "Anastasie"
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document), encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError, match="does not match its manifest"):
        call_command(
            "loaddomain", str(altered), "--database", demo, "--no-input", stdout=out, stderr=out
        )


def test_a_masked_export_of_one_organization(demo, make_database, vendor, tmp_path):
    slug = Organization.objects.using(demo).order_by("slug").values_list("slug", flat=True)[0]
    path = tmp_path / "subset.json"
    document = export(demo, path, organizations=(slug,))
    text = path.read_text(encoding="utf-8")
    values = source_values(demo)
    assert [v for v in values["emails"] | values["hashes"] if v in text] == []
    assert "masked" in document["metadata"] and document["metadata"]["organizations"]
    target = make_database(vendor)
    report = import_domain(str(path), using=target)
    assert report.totals["failed"] == report.totals["skipped"] == 0


def test_dumpdomain_anonymize_without_a_key_is_refused_and_writes_nothing(demo, settings, tmp_path):
    settings.DATATRANSFER_ANONYMIZE_KEY = ""
    path = tmp_path / "masked.json"
    with pytest.raises(CommandError) as caught:
        call_command("dumpdomain", str(path), "--anonymize", "--database", demo)
    assert caught.value.returncode == 2 and "\n" not in str(caught.value)
    assert "DATATRANSFER_ANONYMIZE_KEY" in str(caught.value) and not path.exists()
    settings.DATATRANSFER_ANONYMIZE_KEY = KEY
    out = io.StringIO()
    call_command("dumpdomain", str(path), "--anonymize", "--database", demo, stdout=out)
    assert f"Personal fields masked under the key {Keyed(KEY).key_id} " in out.getvalue()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["metadata"]["masked"]["key"] == Keyed(KEY).key_id
    assert ExportRecord.objects.get().anonymized


def test_the_admins_export_page_offers_it(demo, admin_client, settings, tmp_path, run_worker):
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.DATATRANSFER_ANONYMIZE_KEY = KEY
    settings.DOMAIN_DATABASE = demo
    organization = Organization.objects.using(demo).order_by("slug").first()
    url = reverse("admin:core_organization_changelist")
    data = {"action": "export_domain", ACTION_CHECKBOX_NAME: [organization.pk]}
    page = admin_client.post(url, data)
    assert 'name="anonymize"' in page.content.decode()
    admin_client.post(url, {**data, "confirm": "yes", "anonymize": "1"})
    assert run_worker() == 1
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.SUCCEEDED and record.anonymized, record.error
    response = admin_client.get(
        reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    )
    document = json.loads(b"".join(response.streaming_content))
    assert document["metadata"]["masked"]["key"] == Keyed(KEY).key_id
    assert {row["passwordHash"] for row in document["data"]["users"]} <= {DEV_PASSWORD_HASH, ""}


def test_the_admin_refuses_to_queue_it_without_a_key(admin_client, settings):
    settings.DATATRANSFER_ANONYMIZE_KEY = ""
    url = reverse("admin:datatransfer_exportrecord_export")
    response = admin_client.post(url, {"confirm": "yes", "anonymize": "1"}, follow=True)
    assert not ExportRecord.objects.exists()
    assert "DATATRANSFER_ANONYMIZE_KEY" in response.content.decode()


def test_uploaded_files_cannot_go_with_a_masked_export(settings, tmp_path):
    settings.DATATRANSFER_ANONYMIZE_KEY = KEY
    with pytest.raises(DataTransferError, match="cannot include the uploaded files"):
        ExportOptions(output=str(tmp_path / "x.tar"), anonymize=True, media=True)
