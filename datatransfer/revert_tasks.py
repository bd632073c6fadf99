"""Reverts from the admin, run like its imports (import_tasks.py): on a real import's page,
the revert is first queued as a dry run (an ImportRecord with `reverts` naming the import),
whose report says what it would delete and restore per table; confirming it queues the
revert for real. The worker runs both with the code path of `revertimport`
(revert.RevertJob)."""

import time

from django.utils import timezone
from django_tasks import task

from datatransfer.databases import describe
from datatransfer.exceptions import DataTransferError
from datatransfer.import_tasks import ImportFailed, _finish, _start
from datatransfer.models import ImportRecord
from datatransfer.revert import RevertJob, RevertOptions, was_reverted
from datatransfer.tasks import save_and_enqueue

STOPPED = "Interrupted: the revert was rolled back, nothing was written."


def revertible(record: ImportRecord) -> bool:
    """A real import that succeeded, with a journal not reverted yet, and no revert of it
    under way or done."""
    return (
        not record.dry_run
        and record.reverts_id is None
        and record.status == ImportRecord.Status.SUCCEEDED
        and bool(record.run_id)
        and not was_reverted(record.run_id)
        and not record.revert_runs.exclude(status=ImportRecord.Status.FAILED)
        .filter(dry_run=False)
        .exists()
    )


def revert_confirmable(record: ImportRecord) -> bool:
    """A revert's dry run that succeeded, not confirmed yet."""
    return (
        record.reverts_id is not None
        and record.dry_run
        and record.status == ImportRecord.Status.SUCCEEDED
        and not record.confirmed_imports.exists()
    )


def _queue_revert(imported: ImportRecord, *, user, dry_run: bool, preview=None) -> ImportRecord:
    now = timezone.now()
    try:
        description = describe(imported.database)
    except KeyError:
        description = ""
    record = ImportRecord(
        dry_run=dry_run,
        reverts=imported,
        preview=preview,
        user=user if user is not None and user.pk else None,
        database=imported.database,
        database_description=description,
        run_id=imported.run_id,
        file_name=imported.file_name,
        file_path="",
        file_size=0,
        checksum=imported.checksum,
        status=ImportRecord.Status.QUEUED,
        started_at=now,
        queued_at=now,
    )
    return save_and_enqueue(record, run_revert)


def queue_revert_preview(imported: ImportRecord, *, user) -> ImportRecord:
    """Queue the dry run of the revert of the import `imported`; return its record."""
    return _queue_revert(imported, user=user, dry_run=True)


def queue_revert_confirmed(preview: ImportRecord, *, user) -> ImportRecord:
    """Queue for real the revert that `preview` (its dry run) checked; return its record."""
    return _queue_revert(preview.reverts, user=user, dry_run=False, preview=preview)


@task()
def run_revert(record_id: int) -> str:
    """Run the revert queued as ImportRecord `record_id` (in the worker); return its final
    status. A refusal (rows changed since: named) or another expected failure is recorded
    on the record with its one-line message, and the task ends failed."""
    record = _start(record_id)
    if record is None:
        return "not queued"
    started = time.monotonic()
    options = RevertOptions(run=record.run_id, using=record.database, dry_run=record.dry_run)
    try:
        report = RevertJob(options).run().as_dict()
    except DataTransferError as error:
        _finish(record, started, status=ImportRecord.Status.FAILED, error=str(error))
        raise ImportFailed(f"Revert {record.pk} failed: {error}") from None
    except (KeyboardInterrupt, SystemExit):
        _finish(record, started, status=ImportRecord.Status.INTERRUPTED, error=STOPPED)
        raise
    except BaseException as error:
        _finish(record, started, status=ImportRecord.Status.FAILED, error=f"Failed: {error!r}")
        raise
    report["file"] = record.file_name
    _finish(record, started, status=ImportRecord.Status.SUCCEEDED, report=report)
    return record.status
