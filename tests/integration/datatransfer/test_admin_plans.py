"""The admin's Confirm imports what its preview showed: the preview records a plan (a
private file named on its record), the confirmation applies it, and a target changed since
the preview refuses the import (FAILED, the tables and counts named, nothing written)."""

import json
import os
from pathlib import Path

import pytest

from core.models import Organization
from datatransfer.databases import describe
from datatransfer.models import ImportRecord
from tests.integration.datatransfer import test_admin_import as admin_import
from tests.integration.datatransfer.test_admin_import import confirm_url, previewed
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db
# The admin import tests' fixtures: the folders, the demo export, an empty target.
imports_dir, export_bytes, target = (
    admin_import.imports_dir,
    admin_import.export_bytes,
    admin_import.target,
)


def confirmed(admin_client, preview, run_worker) -> ImportRecord:
    admin_client.post(confirm_url(preview))
    assert run_worker() == 1
    return ImportRecord.objects.exclude(pk=preview.pk).get()


def test_the_preview_records_its_plan_and_the_confirmation_does_exactly_that(
    admin_client, export_bytes, target, run_worker
):
    preview = previewed(admin_client, export_bytes, target, run_worker)
    plan_path = Path(preview.plan_path)
    assert plan_path.is_file() and oct(os.stat(plan_path).st_mode & 0o777) == "0o600"
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    assert plan["target"] == {"database": target, "describedAs": describe(target)}
    assert plan["file"]["sha256"] == preview.checksum
    assert {key: t["counts"] for key, t in plan["tables"].items()} == preview.report["tables"]

    record = confirmed(admin_client, preview, run_worker)
    assert record.status == ImportRecord.Status.SUCCEEDED, record.error
    assert record.plan_path == preview.plan_path
    assert record.report["tables"] == preview.report["tables"]
    assert not plan_path.exists()  # imported: the plan goes with the kept file


def test_a_target_changed_since_the_preview_refuses_the_confirmation(
    admin_client, export_bytes, target, run_worker
):
    preview = previewed(admin_client, export_bytes, target, run_worker)
    plan = json.loads(Path(preview.plan_path).read_text(encoding="utf-8"))
    [first, *_] = plan["tables"]["organizations"]["rows"]["created"]
    Organization.objects.using(target).create(
        id=first, name="Arrived since", slug="arrived-since", type="UNIVERSITE"
    )
    before = database_snapshot(target)
    record = confirmed(admin_client, preview, run_worker)
    assert record.status == ImportRecord.Status.FAILED
    assert record.error == (
        "The target changed since the plan: organizations 1 row differ; nothing was "
        "written. Upload the file again for a new preview."
    )
    assert database_snapshot(target) == before
    assert not Path(preview.plan_path).exists() and not Path(preview.file_path).exists()
