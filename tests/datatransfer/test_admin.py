"""Exports from the admin, through the Django test client: the action on organizations, the
whole-database export, the history and its downloads, and who may use them."""

import hashlib
import io
import json
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.http import FileResponse
from django.urls import reverse

from core.models import Organization
from datatransfer.models import ExportRecord
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
ORGANIZATIONS = reverse("admin:core_organization_changelist")
HISTORY = reverse("admin:datatransfer_exportrecord_changelist")
WHOLE = reverse("admin:datatransfer_exportrecord_export")


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def seeded():
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    return list(Organization.objects.order_by("slug")[:2])


def staff(client, *permissions):
    user = User.objects.create_user("agent", password="x", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def run_action(client, organizations, *, follow=False, headers=None, **extra):
    data = {"action": "export_domain", ACTION_CHECKBOX_NAME: [o.pk for o in organizations], **extra}
    return client.post(ORGANIZATIONS, data, follow=follow, headers=headers)


def content(response) -> bytes:
    """The streamed file; reading it to the end closes the response (and the file)."""
    assert isinstance(response, FileResponse)
    return b"".join(response.streaming_content)


def test_the_action_asks_first_and_warns_about_secrets(admin_client, seeded):
    response = run_action(admin_client, seeded)
    assert response.status_code == 200
    page = response.content.decode()
    assert "password hashes" in page and "invitation tokens" in page
    assert 'name="exclude_secrets"' in page
    assert all(o.slug in page for o in seeded)
    assert not ExportRecord.objects.exists()


def test_a_superuser_downloads_organizations_that_load_alone(
    admin_client, admin_user, seeded, make_database, tmp_path, exports_dir
):
    response = run_action(admin_client, seeded, confirm="yes")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and "export-" in disposition
    data = content(response)
    document = json.loads(data)
    assert {o.slug for o in seeded} <= {row["slug"] for row in document["data"]["organizations"]}
    assert document["data"]["configurations"] == []
    assert "configurations" in document["metadata"]["excludedTables"]

    path = tmp_path / "download.json"
    path.write_bytes(data)
    target = make_database("sqlite")
    call_command("loaddomain", str(path), "--database", target, stdout=io.StringIO())
    loaded = database_snapshot(target)
    assert {o.pk for o in seeded} <= set(loaded["core.Organization"])
    assert len(loaded["core.User"]) == len(document["data"]["users"])

    [record] = ExportRecord.objects.all()
    assert record.user == admin_user and record.command == ""
    assert record.status == ExportRecord.Status.SUCCEEDED
    assert record.organizations == sorted(o.slug for o in seeded)
    assert record.table_counts == {
        key: len(rows)
        for key, rows in document["data"].items()
        if key not in document["metadata"]["excludedTables"]
    }
    assert record.total_rows == sum(record.table_counts.values())
    assert record.file_size == len(data)
    assert record.checksum == hashlib.sha256(data).hexdigest()
    assert record.file_name in disposition and record.duration is not None
    assert (exports_dir / record.file_name).is_file()


def test_secrets_can_be_left_out(admin_client, seeded):
    document = json.loads(
        content(run_action(admin_client, seeded, confirm="yes", exclude_secrets="1"))
    )
    assert {row["passwordHash"] for row in document["data"]["users"]} == {""}
    assert {row["token"] for row in document["data"]["organizationInvites"]} <= {""}
    assert ExportRecord.objects.get().secrets_excluded is True


def test_staff_without_the_permission_gets_no_file(client, seeded, exports_dir):
    staff(client, "view_organization")
    page = client.get(ORGANIZATIONS)
    assert page.status_code == 200
    assert "export_domain" not in page.content.decode()
    response = run_action(client, seeded, confirm="yes")
    assert not isinstance(response, FileResponse)
    assert not exports_dir.exists() or not any(exports_dir.iterdir())
    assert client.get(WHOLE).status_code == 403
    assert client.post(WHOLE, {"confirm": "yes"}).status_code == 403
    assert client.get(HISTORY).status_code == 403
    assert not ExportRecord.objects.exists()


def test_staff_with_the_permission_exports(client, seeded):
    user = staff(client, "view_organization", "export_domain")
    assert "export_domain" in client.get(ORGANIZATIONS).content.decode()
    assert json.loads(content(run_action(client, seeded, confirm="yes")))["data"]["organizations"]
    assert ExportRecord.objects.get().user == user


def test_whole_database_export_from_the_history(admin_client, seeded, exports_dir):
    page = admin_client.get(HISTORY).content.decode()
    assert WHOLE in page
    confirmation = admin_client.get(WHOLE)
    assert confirmation.status_code == 200 and "password hashes" in confirmation.content.decode()
    data = content(admin_client.post(WHOLE, {"confirm": "yes"}))
    document = json.loads(data)
    assert len(document["data"]) == 16
    record = ExportRecord.objects.get()
    assert record.organizations == [] and record.scope == "whole database"
    assert record.table_counts == {key: len(rows) for key, rows in document["data"].items()}

    download = reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    assert download in admin_client.get(HISTORY).content.decode()
    assert content(admin_client.get(download)) == data
    (exports_dir / record.file_name).unlink()
    assert admin_client.get(download).status_code == 404
    assert download not in admin_client.get(HISTORY).content.decode()


def test_a_file_outside_the_exports_folder_is_not_served(admin_client, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    record = ExportRecord.objects.create(
        started_at="2025-01-01T00:00:00Z",
        status="succeeded",
        database="default",
        command="dumpdomain",
        system_user="deploy",
        file_path=str(outside),
    )
    url = reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    page = admin_client.get(HISTORY).content.decode()
    assert "dumpdomain (deploy)" in page and url not in page
    assert admin_client.get(url).status_code == 404
    assert (
        admin_client.get(
            reverse("admin:datatransfer_exportrecord_change", args=[record.pk])
        ).status_code
        == 200
    )


def test_a_data_transfer_error_is_an_admin_message(admin_client, seeded, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "a-file"
    settings.EXPORTS_DIR.write_text("not a folder")
    response = run_action(admin_client, seeded, confirm="yes", follow=True)
    assert response.status_code == 200
    assert "The export failed" in response.content.decode()
    response = admin_client.post(WHOLE, {"confirm": "yes"}, follow=True)
    assert response.status_code == 200 and "The export failed" in response.content.decode()
    assert set(ExportRecord.objects.values_list("status", flat=True)) == {"failed"}


def test_labels_are_in_french(admin_client, seeded):
    page = admin_client.get(ORGANIZATIONS, headers={"accept-language": "fr"}).content.decode()
    assert "Exporter les organisations sélectionnées avec leurs données" in page
    confirmation = run_action(admin_client, seeded, headers={"accept-language": "fr"})
    assert "Laisser les secrets de côté" in confirmation.content.decode()


@pytest.fixture
def whole_export(admin_client, seeded, exports_dir):
    """A whole-database export from the admin: its record, file and download URL."""
    data = content(admin_client.post(WHOLE, {"confirm": "yes"}))
    record = ExportRecord.objects.get()
    url = reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    return record, exports_dir / record.file_name, data, url


def refused(admin_client, url) -> str:
    """The page a refused download leads to (never the file): its messages."""
    response = admin_client.get(url, follow=True)
    assert not isinstance(response, FileResponse)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == HISTORY
    return response.content.decode()


@pytest.mark.parametrize(
    "change",
    [
        lambda data: b'{"data": {}}',  # another file under the same name
        lambda data: data.replace(b'"passwordHash": "', b'"passwordHash": "X', 1)[:-1],  # same size
        lambda data: data + b" ",
    ],
)
def test_a_file_changed_since_its_export_is_not_served(admin_client, whole_export, change):
    record, file, data, url = whole_export
    assert content(admin_client.get(url)) == data
    file.write_bytes(change(data))
    page = refused(admin_client, url)
    assert "was changed since it was written" in page and record.file_name in page


def test_a_record_without_a_checksum_is_not_served(admin_client, whole_export):
    record, _, _, url = whole_export
    ExportRecord.objects.filter(pk=record.pk).update(checksum="")
    assert "was changed since it was written" in refused(admin_client, url)


def test_the_refusal_is_in_french_too(admin_client, whole_export):
    _, file, _, url = whole_export
    file.write_bytes(b"{}")
    response = admin_client.get(url, follow=True, headers={"accept-language": "fr"})
    assert "a été modifié depuis son écriture" in response.content.decode()


def confirmation_counts(page: str) -> dict:
    """{table: (rows, of other organizations)} from the confirmation page's table."""
    body = re.search(r'<table class="export-subset">.*?</table>', page, re.S).group(0)
    cells = re.findall(r"<tr><td>(\w+)</td><td>([\d,]+)</td><td>([\d,]+)</td></tr>", body)
    return {
        key: (int(rows.replace(",", "")), int(others.replace(",", "")))
        for key, rows, others in cells
    }


def test_the_confirmation_counts_the_rows_and_those_of_other_organizations(admin_client, seeded):
    page = run_action(admin_client, seeded).content.decode()
    counts = confirmation_counts(page)
    assert "of other organizations" in page and "without their secrets" in page
    document = json.loads(content(run_action(admin_client, seeded, confirm="yes")))
    data = document["data"]
    assert counts == {key: (len(rows), counts[key][1]) for key, rows in data.items() if rows}, (
        "every table that goes out, with its number of rows"
    )
    chosen = {o.pk for o in seeded}
    other_organizations = [o for o in data["organizations"] if o["id"] not in chosen]
    assert counts["organizations"][1] == len(other_organizations) > 0
    other_users = [u for u in data["users"] if u["organizationId"] not in chosen]
    assert counts["users"][1] == len(other_users)
    assert all(u["passwordHash"] == "" for u in other_users)
    assert counts["permissions"][1] == 0  # shared rows, no organization's
    references = document["metadata"]["references"]
    assert sum(others for _, others in counts.values()) == sum(
        len(ids) for key, ids in references.items() if key != "permissions"
    )


def test_the_confirmation_counts_in_french_too(admin_client, seeded):
    page = run_action(admin_client, seeded, headers={"accept-language": "fr"}).content.decode()
    assert "d’autres organisations" in page and "sans leurs secrets" in page
