"""Exports from the admin, through the Django test client: the action on organizations and
the whole-database export queue a task, the worker runs it (in this process: see
`run_worker`; test_worker.py runs the real command), the history shows its state and its
file to download; and who may use them."""

import datetime as dt
import hashlib
import io
import json
import re
import tarfile

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import DatabaseError
from django.http import FileResponse
from django.urls import reverse
from django.utils import translation
from django_tasks_db.models import DBTaskResult

from core.models import Organization
from datatransfer import export_job, exporter, tasks
from datatransfer.admin.common import human_duration
from datatransfer.databases import describe
from datatransfer.models import ExportRecord
from datatransfer.tasks import PROGRESS_INTERVAL, ExportProgress, _start, queue_export, run_export
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
ORGANIZATIONS = reverse("admin:core_organization_changelist")
HISTORY = reverse("admin:datatransfer_exportrecord_changelist")
WHOLE = reverse("admin:datatransfer_exportrecord_export")


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.EXPORTS_DIR.mkdir()
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


def queued(response) -> ExportRecord:
    """The export a confirmed form queued: the response goes to the history, which says so."""
    assert response.status_code == 200 and response.redirect_chain[-1][0] == HISTORY
    assert "The export is queued" in response.content.decode()
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.QUEUED and record.task_id
    assert DBTaskResult.objects.get(pk=record.task_id).status == "READY"
    return record


def download_url(record) -> str:
    return reverse("admin:datatransfer_exportrecord_download", args=[record.pk])


def content(response) -> bytes:
    """The streamed file; reading it to the end closes the response (and the file)."""
    assert isinstance(response, FileResponse)
    return b"".join(response.streaming_content)


def test_the_action_asks_first_and_warns_about_secrets(admin_client, seeded):
    response = run_action(admin_client, seeded)
    assert response.status_code == 200
    page = response.content.decode()
    assert "password hashes" in page and "invitation tokens" in page
    assert 'name="exclude_secrets"' in page and "runs in the background" in page
    assert all(o.slug in page for o in seeded)
    assert not ExportRecord.objects.exists() and not DBTaskResult.objects.exists()


def test_organizations_are_queued_then_downloaded_from_the_history_and_load_alone(
    admin_client, admin_user, seeded, make_database, tmp_path, exports_dir, run_worker
):
    record = queued(run_action(admin_client, seeded, confirm="yes", follow=True))
    assert record.user == admin_user and record.command == ""
    assert record.organizations == sorted(o.slug for o in seeded)
    assert not exports_dir.exists() or not any(exports_dir.iterdir())  # nothing ran yet
    page = admin_client.get(HISTORY).content.decode()
    assert 'class="export-state export-queued"' in page and 'http-equiv="refresh"' in page

    assert run_worker() == 1
    record.refresh_from_db()
    assert record.status == ExportRecord.Status.SUCCEEDED
    assert DBTaskResult.objects.get(pk=record.task_id).status == "SUCCESSFUL"
    page = admin_client.get(HISTORY).content.decode()
    assert download_url(record) in page and 'http-equiv="refresh"' not in page
    response = admin_client.get(download_url(record))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and record.file_name in disposition
    data = content(response)
    document = json.loads(data)
    assert {o.slug for o in seeded} <= {row["slug"] for row in document["data"]["organizations"]}
    assert document["data"]["configurations"] == []
    assert "configurations" in document["metadata"]["excludedTables"]

    path = tmp_path / "download.json"
    path.write_bytes(data)
    target = make_database("sqlite")
    call_command("loaddomain", "--no-input", str(path), "--database", target, stdout=io.StringIO())
    loaded = database_snapshot(target)
    assert {o.pk for o in seeded} <= set(loaded["core.Organization"])
    assert len(loaded["core.User"]) == len(document["data"]["users"])

    assert record.table_counts == {
        key: len(rows)
        for key, rows in document["data"].items()
        if key not in document["metadata"]["excludedTables"]
    }
    assert record.total_rows == sum(record.table_counts.values())
    assert record.progress_tables == len(record.table_counts)
    assert record.file_size == len(data) and record.duration is not None
    assert record.checksum == hashlib.sha256(data).hexdigest()
    assert (exports_dir / record.file_name).is_file()


def test_secrets_can_be_left_out(admin_client, seeded, run_worker):
    queued(run_action(admin_client, seeded, confirm="yes", exclude_secrets="1", follow=True))
    run_worker()
    record = ExportRecord.objects.get()
    assert record.secrets_excluded is True
    document = json.loads(content(admin_client.get(download_url(record))))
    assert {row["passwordHash"] for row in document["data"]["users"]} == {""}
    assert {row["token"] for row in document["data"]["organizationInvites"]} <= {""}


def test_uploaded_files_come_in_an_archive(admin_client, seeded, run_worker):
    queued(run_action(admin_client, seeded, confirm="yes", include_media="1", follow=True))
    run_worker()
    record = ExportRecord.objects.get()
    assert record.with_media and record.status == ExportRecord.Status.SUCCEEDED
    assert record.file_name.endswith(".tar")
    with tarfile.open(fileobj=io.BytesIO(content(admin_client.get(download_url(record))))) as tar:
        assert "export.json" in tar.getnames() and "media-manifest.json" in tar.getnames()


def test_staff_without_the_permission_queues_nothing(client, seeded, exports_dir):
    staff(client, "view_organization")
    page = client.get(ORGANIZATIONS)
    assert page.status_code == 200
    assert "export_domain" not in page.content.decode()
    response = run_action(client, seeded, confirm="yes")
    assert not isinstance(response, FileResponse)
    assert client.get(WHOLE).status_code == 403
    assert client.post(WHOLE, {"confirm": "yes"}).status_code == 403
    assert client.get(HISTORY).status_code == 403
    assert not ExportRecord.objects.exists() and not DBTaskResult.objects.exists()
    assert not exports_dir.exists() or not any(exports_dir.iterdir())


def test_staff_with_the_permission_exports(client, seeded, run_worker):
    user = staff(client, "view_organization", "export_domain")
    assert "export_domain" in client.get(ORGANIZATIONS).content.decode()
    record = queued(run_action(client, seeded, confirm="yes", follow=True))
    assert record.user == user
    run_worker()
    record.refresh_from_db()
    assert json.loads(content(client.get(download_url(record))))["data"]["organizations"]


def test_whole_database_export_from_the_history(admin_client, seeded, exports_dir, run_worker):
    page = admin_client.get(HISTORY).content.decode()
    assert WHOLE in page
    confirmation = admin_client.get(WHOLE)
    assert confirmation.status_code == 200 and "password hashes" in confirmation.content.decode()
    # It says which database it reads, as the commands do.
    read_from = f"Read from the database platform ({describe('platform')})."
    assert read_from in confirmation.content.decode().replace("&amp;", "&")
    record = queued(admin_client.post(WHOLE, {"confirm": "yes"}, follow=True))
    assert record.organizations == [] and record.scope == "whole database"
    run_worker()
    record.refresh_from_db()
    data = content(admin_client.get(download_url(record)))
    document = json.loads(data)
    assert len(document["data"]) == 16
    assert record.table_counts == {key: len(rows) for key, rows in document["data"].items()}

    assert download_url(record) in admin_client.get(HISTORY).content.decode()
    (exports_dir / record.file_name).unlink()
    assert admin_client.get(download_url(record)).status_code == 404
    assert download_url(record) not in admin_client.get(HISTORY).content.decode()


def test_the_history_shows_a_running_export_with_its_progress(admin_client, seeded):
    record = queue_export(user=None)
    assert _start(record.pk) is not None
    progress = ExportProgress(record)
    progress("permissions", 20)
    progress("organizations", 10)
    on_rows = progress("users", 5000)
    on_rows(1000)  # within PROGRESS_INTERVAL of the table's start: not written yet
    record.refresh_from_db()
    assert (record.status, record.progress_table, record.progress_tables) == (
        "running",
        "users",
        3,
    )
    assert record.progress_rows == 30
    progress.saved_at -= PROGRESS_INTERVAL
    on_rows(1000)
    record.refresh_from_db()
    assert record.progress_rows == 2030
    page = admin_client.get(HISTORY).content.decode()
    assert "running: 2,030 rows written, table 3 (users)" in page
    assert 'http-equiv="refresh"' in page


def test_a_queued_task_runs_once(seeded, run_worker):
    record = queue_export(user=None)
    run_worker()
    assert run_export.call(record.pk) == "not queued"
    assert ExportRecord.objects.get().status == ExportRecord.Status.SUCCEEDED


def test_a_long_wait_asks_whether_the_worker_runs(admin_client):
    record = queue_export(user=None)
    assert "is the worker running" not in admin_client.get(HISTORY).content.decode()
    ExportRecord.objects.filter(pk=record.pk).update(
        queued_at=record.queued_at - dt.timedelta(minutes=2)
    )
    page = admin_client.get(HISTORY).content.decode()
    assert "is the worker running" in page and "python manage.py db_worker" in page


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
    url = download_url(record)
    page = admin_client.get(HISTORY).content.decode()
    assert "dumpdomain (deploy)" in page and url not in page
    assert admin_client.get(url).status_code == 404
    assert (
        admin_client.get(
            reverse("admin:datatransfer_exportrecord_change", args=[record.pk])
        ).status_code
        == 200
    )


def test_a_failed_export_shows_failed_with_its_error(
    admin_client, seeded, settings, tmp_path, run_worker
):
    settings.EXPORTS_DIR = tmp_path / "a-file"
    settings.EXPORTS_DIR.write_text("not a folder")
    queued(run_action(admin_client, seeded, confirm="yes", follow=True))
    run_worker()
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.FAILED and "Cannot write" in record.error
    # An expected failure is the record's to tell; the task itself ended normally.
    assert DBTaskResult.objects.get(pk=record.task_id).status == "SUCCESSFUL"
    page = admin_client.get(HISTORY).content.decode()
    assert 'class="export-state export-failed"' in page and "Cannot write" in page


def test_an_export_the_queue_refuses_is_an_admin_message(admin_client, seeded, monkeypatch):
    class Refusing:
        def enqueue(self, *args):
            raise DatabaseError("no such table: django_tasks_database_dbtaskresult")

    monkeypatch.setattr(tasks, "run_export", Refusing())
    response = admin_client.post(WHOLE, {"confirm": "yes"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The export could not be queued: no such table" in page
    assert not ExportRecord.objects.exists()


def test_a_crash_in_the_worker_marks_the_export_failed(seeded, monkeypatch, run_worker):
    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(export_job, "export_domain", crash)
    record = queue_export(user=None)
    run_worker()
    record.refresh_from_db()
    assert record.status == ExportRecord.Status.FAILED and record.error == "a bug"
    assert DBTaskResult.objects.get(pk=record.task_id).status == "FAILED"


def test_a_worker_stopped_in_the_middle_marks_the_export_interrupted_and_leaves_no_file(
    seeded, monkeypatch, run_worker, exports_dir
):
    """db_worker's second SIGTERM (or Ctrl-C) raises SystemExit in the running task."""
    real, calls = exporter._table_rows, []

    def rows(*args):
        calls.append(args)
        if len(calls) == 3:
            assert [path.suffix for path in exports_dir.iterdir()] == [".part"]
            raise SystemExit(1)
        return real(*args)

    monkeypatch.setattr(exporter, "_table_rows", rows)
    record = queue_export(user=None)
    run_worker()
    record.refresh_from_db()
    assert record.status == ExportRecord.Status.INTERRUPTED == "interrupted"
    assert record.error == "Interrupted: the process running the export was stopped."
    assert list(exports_dir.iterdir()) == []


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.285937, "0.3 s"),
        (12.44, "12.4 s"),
        (59.96, "1 min 00 s"),
        (125.4, "2 min 05 s"),
        (3599.6, "1 h 00 min"),
        (3725, "1 h 02 min"),
    ],
)
def test_durations_are_written_for_people(seconds, text):
    assert human_duration(seconds) == text


def test_durations_use_the_language_s_decimal_separator():
    with translation.override("fr"):
        assert human_duration(0.285937) == "0,3 s"


def test_the_history_shows_the_database_and_durations_for_people(admin_client, seeded, exports_dir):
    call_command("dumpdomain", str(exports_dir / "all.json"), stdout=io.StringIO())
    record = ExportRecord.objects.get()
    page = admin_client.get(HISTORY).content.decode()
    results = page[page.index('id="result_list"') :]
    header = results[: results.index("</thead>")]
    assert "Database" in header and "Duration" in header
    row = results[results.index("<tbody>") : results.index("</tbody>")]
    assert 'title="sqlite ' in row or 'title="postgresql ' in row
    assert ">platform</span>" in row
    assert human_duration(record.duration.total_seconds()) in row
    assert not re.search(r"\d:\d\d:\d\d\.\d", row)  # not 0:00:00.285937
    # The file's column comes before the wide ones.
    assert row.index("export-download") < row.index(">platform</span>")


def test_the_detail_page_has_rows_per_table_as_a_table_and_one_file_row(
    admin_client, seeded, exports_dir
):
    call_command("dumpdomain", str(exports_dir / "all.json"), stdout=io.StringIO())
    record = ExportRecord.objects.get()
    page = admin_client.get(
        reverse("admin:datatransfer_exportrecord_change", args=[record.pk])
    ).content.decode()
    assert page.count("<label>File:</label>") == 1
    assert f'href="{download_url(record)}"' in page
    assert 'class="export-table-counts"' in page
    for key, count in record.table_counts.items():
        assert f'<td>{key}</td><td class="numeric">{count:,}</td>' in page
    assert '{"permissions"' not in page and "&quot;permissions&quot;" not in page
    assert "datatransfer/admin.css" in page


def test_a_long_scope_is_cut_in_the_list_and_whole_on_the_detail_page(admin_client):
    slugs = [f"organization-{number}" for number in range(5)]
    record = ExportRecord.objects.create(
        started_at="2025-01-01T00:00:00Z", status="failed", database="platform", organizations=slugs
    )
    page = admin_client.get(HISTORY).content.decode()
    assert "organization-0, organization-1, organization-2 and 2 more" in page
    assert "organization-4" not in page
    detail = admin_client.get(reverse("admin:datatransfer_exportrecord_change", args=[record.pk]))
    assert ", ".join(slugs) in detail.content.decode()


def test_labels_are_in_french(admin_client, seeded):
    page = admin_client.get(ORGANIZATIONS, headers={"accept-language": "fr"}).content.decode()
    assert "Exporter les organisations sélectionnées avec leurs données" in page
    confirmation = run_action(admin_client, seeded, headers={"accept-language": "fr"})
    assert "Laisser les secrets de côté" in confirmation.content.decode()
    assert "Lancer l’export" in confirmation.content.decode()


@pytest.fixture
def whole_export(admin_client, seeded, exports_dir, run_worker):
    """A whole-database export from the admin, run: its record, file, content and download
    URL."""
    admin_client.post(WHOLE, {"confirm": "yes"})
    run_worker()
    record = ExportRecord.objects.get()
    url = download_url(record)
    return record, exports_dir / record.file_name, content(admin_client.get(url)), url


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


def test_the_confirmation_counts_the_rows_and_those_of_other_organizations(
    admin_client, seeded, run_worker
):
    page = run_action(admin_client, seeded).content.decode()
    counts = confirmation_counts(page)
    assert "of other organizations" in page and "without their secrets" in page
    run_action(admin_client, seeded, confirm="yes")
    run_worker()
    document = json.loads(content(admin_client.get(download_url(ExportRecord.objects.get()))))
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
