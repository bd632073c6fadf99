"""Imports from the admin, in the background, as exports are (tasks.py): the admin records
an ImportRecord (queued) and queues a task of Django's tasks framework; the worker
(`python manage.py db_worker`) runs it with the code path of `loaddomain`, on a private
copy of the uploaded file whose SHA-256 is the one recorded, and writes the report, the
state and the duration on the record.

The preview is such an import with `dry_run`, which records its plan (plans.py);
confirming it queues the same import for real, bound to the preview's SHA-256 and its plan:
what is confirmed is what was previewed, or nothing (the target changed since: FAILED).
"""

import datetime as dt
import logging
import time
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.utils import timezone
from django_tasks import task

from datatransfer.databases import describe
from datatransfer.exceptions import Code, DataTransferError, FileChangedError
from datatransfer.import_files import StoredFile, checked_copy, sha256_of
from datatransfer.importer import ImportJob, ImportOptions
from datatransfer.journal import import_journal
from datatransfer.leftovers import owner
from datatransfer.models import ImportRecord
from datatransfer.plans import (
    PlanChecker,
    PlanRecorder,
    check_target,
    file_changed,
    read_plan,
    write_plan,
)
from datatransfer.registry import audit_log_keys
from datatransfer.tasks import save_and_enqueue

logger = logging.getLogger(__name__)
NEW_PREVIEW = "Upload the file again for a new preview."
INTERRUPTED = "Interrupted: the import was rolled back, nothing was written."
STOPPED = (
    "Interrupted: the process running the import was stopped; the import was rolled back, "
    "nothing was written."
)


def load_file(record: ImportRecord, path, *, on_table=None) -> dict:
    """Import the export file or archive at `path` as `record` says (its database, dry run
    or not, its options: `--match`, `--skip-audit`) with the import job of `loaddomain`;
    return the report (ImportReport.as_dict(), with "media" for an archive). A preview
    records its plan (plans.py) beside the kept file; a confirmation applies its preview's
    plan, with the plan's options. Raises what the job raises, PlanChangedError when the
    target changed since the preview."""
    options = ImportOptions(
        using=record.database,
        dry_run=record.dry_run,
        match=record.match,
        exclude=frozenset(audit_log_keys()) if record.skip_audit else frozenset(),
    )
    observer = None
    if record.dry_run:
        observer = PlanRecorder()
    elif record.plan_path:
        plan = read_plan(record.plan_path)
        check_target(plan, record.database)
        if plan.file_sha256 != record.checksum:
            raise file_changed(record.file_name)
        options = plan.import_options(using=record.database)
        observer = PlanChecker(plan)
    with import_journal(options.dry_run) as journal:  # a real import keeps its undo journal
        observers = ((observer,) if observer else ()) + tuple(journal)
        report = ImportJob(options, on_table=on_table, observers=observers).run(str(path))
    if record.dry_run:
        _keep_plan(record, observer.plan(report, **_planned_file(record)))
    return report.as_dict()


def _planned_file(record: ImportRecord) -> dict:
    return {
        "name": record.file_name,
        "path": record.file_path,
        "sha256": record.checksum,
        "size": record.file_size,
    }


def _keep_plan(record: ImportRecord, plan) -> None:
    """Write the preview's plan beside its kept file (private, 0600) and name it on the
    record. Raises DataTransferError when it cannot be written."""
    path = Path(record.file_path).with_name(f"{Path(record.file_path).name}.plan.json")
    try:
        write_plan(path, plan)
    except OSError as error:
        raise DataTransferError(
            f"Cannot keep the preview's plan in {path.parent}: {error.strerror or error}."
        ) from error
    record.plan_path = str(path)


def _description(alias: str) -> str:
    try:
        return describe(alias)
    except KeyError:
        return ""


def _queue(record: ImportRecord) -> ImportRecord:
    """Save `record` as queued and hand it to the worker. Raises DataTransferError when it
    cannot be queued (then nothing is recorded)."""
    now = timezone.now()
    record.status = ImportRecord.Status.QUEUED
    record.started_at = record.queued_at = now
    record.database_description = _description(record.database)
    return save_and_enqueue(record, run_import)


def queue_preview(
    *,
    user,
    stored: StoredFile,
    file_name: str,
    database: str,
    match: str = "id",
    skip_audit: bool = False,
) -> ImportRecord:
    """Record the dry run of an uploaded file (kept as `stored`) into `database`, with the
    options `match` and `skip_audit` (as loaddomain's), and queue it; return the record."""
    return _queue(
        ImportRecord(
            dry_run=True,
            user=user if user is not None and user.pk else None,
            database=database,
            match=match,
            skip_audit=skip_audit,
            file_name=file_name,
            file_path=str(stored.path),
            file_size=stored.size,
            checksum=stored.sha256,
        )
    )


def queue_confirmed(preview: ImportRecord, *, user) -> ImportRecord:
    """Queue for real the import that `preview` (a dry run that succeeded) checked: the same
    file, into the same database, with the same options. Raises FileChangedError when the
    kept file is no longer the bytes previewed, DataTransferError when it cannot be
    queued."""
    if sha256_of(preview.file_path) != preview.checksum:
        raise FileChangedError(
            f"{preview.file_name} changed since its preview (its SHA-256 is not the one "
            "previewed): it is not imported; upload it again."
        )
    return _queue(
        ImportRecord(
            dry_run=False,
            preview=preview,
            user=user if user is not None and user.pk else None,
            database=preview.database,
            match=preview.match,
            skip_audit=preview.skip_audit,
            plan_path=preview.plan_path,
            file_name=preview.file_name,
            file_path=preview.file_path,
            file_size=preview.file_size,
            checksum=preview.checksum,
        )
    )


def _start(record_id: int) -> ImportRecord | None:
    """Mark the queued record running (one UPDATE: a second worker finds it taken) and
    return it; None when it is not queued."""
    records = ImportRecord.objects.using(DEFAULT_DB_ALIAS)
    taken = records.filter(pk=record_id, status=ImportRecord.Status.QUEUED).update(
        status=ImportRecord.Status.RUNNING, owner=owner(), started_at=timezone.now()
    )
    return records.get(pk=record_id) if taken else None


class ImportProgress:
    """The import's `on_table`: writes on the record the table being loaded and how many
    tables were started. A write that fails is only logged."""

    def __init__(self, record: ImportRecord):
        self.record = record

    def __call__(self, key: str, expected_rows, *, phase="load", number=None, tables=None):
        if phase != "load":
            return None  # the check before the load is not what the page counts
        self.record.progress_table = key
        self.record.progress_tables = number or self.record.progress_tables + 1
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                ImportRecord.objects.using(DEFAULT_DB_ALIAS).filter(pk=self.record.pk).update(
                    progress_table=key, progress_tables=self.record.progress_tables
                )
        except DatabaseError as error:
            logger.warning("Import %s: progress not recorded: %s", self.record.pk, error)
        return None


def _finish(record: ImportRecord, started: float, **changes) -> None:
    for name, value in changes.items():
        setattr(record, name, value)
    record.duration = dt.timedelta(seconds=time.monotonic() - started)
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS)
    except DatabaseError as error:
        logger.warning("Import %s: outcome not recorded: %s", record.pk, error)


class ImportFailed(Exception):
    """The import's task failed: its record says why, and the worker's task result says
    FAILED (a task that returns would be SUCCESSFUL)."""


@task()
def run_import(record_id: int) -> str:
    """Run the import queued as ImportRecord `record_id` (in the worker); return its final
    status. An expected failure (DataTransferError: a bad file, an unsigned one under a
    signing key, an unreachable database...) is recorded on the record with its one-line
    message, then raised as ImportFailed so that the task ends failed too. The worker
    stopped in the middle (`db_worker` given a second SIGTERM or SIGINT, which raises
    SystemExit) marks the record interrupted, as a Ctrl-C does; anything else marks it
    failed and is raised, for the worker's log."""
    record = _start(record_id)
    if record is None:
        return "not queued"
    started = time.monotonic()
    try:
        with checked_copy(record.file_path, record.checksum) as copy:
            try:
                report = load_file(record, copy, on_table=ImportProgress(record))
            except DataTransferError as error:
                # Messages name the private copy: name the file as it was uploaded.
                error.args = (str(error).replace(str(copy), record.file_name),)
                if error.code == Code.PLAN_CHANGED:
                    error.args = (f"{error} {NEW_PREVIEW}",)
                raise
    except DataTransferError as error:
        _finish(record, started, status=ImportRecord.Status.FAILED, error=str(error))
        # A failed run can never be confirmed (nor run again): its upload is not kept.
        _delete_kept_file(record)
        raise ImportFailed(f"Import {record.pk} failed: {error}") from None
    except KeyboardInterrupt:
        _finish(record, started, status=ImportRecord.Status.INTERRUPTED, error=INTERRUPTED)
        raise
    except SystemExit:
        _finish(record, started, status=ImportRecord.Status.INTERRUPTED, error=STOPPED)
        raise
    except BaseException as error:
        _finish(record, started, status=ImportRecord.Status.FAILED, error=f"Failed: {error!r}")
        raise
    else:
        report["file"] = record.file_name
        _finish(
            record,
            started,
            status=ImportRecord.Status.SUCCEEDED,
            report=report,
            run_id=report.get("run") or "",
        )
        if not record.dry_run:
            _delete_kept_file(record)
    return record.status


def _delete_kept_file(record: ImportRecord) -> None:
    """Delete the uploaded file once it is imported, or its run failed (it may hold
    password hashes), and its preview's plan; the record keeps its name and SHA-256. A
    failure is only logged."""
    for path in filter(None, (record.file_path, record.plan_path)):
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as error:
            logger.warning("Import %s: %s not deleted: %s", record.pk, path, error)
