"""Exports in the background. The admin queues an export (an ExportRecord, status queued,
and a task of Django's tasks framework, database backend, both in `default`); the worker
(`python manage.py db_worker`) runs it with `history.export_to_file`, the code path of
`dumpdomain`, writing its progress on the record as it goes.

A whole-database export takes about 25 s per million rows: far longer than an HTTP request
may last behind a proxy.
"""

import logging
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.utils import timezone
from django_tasks import task

from datatransfer.exceptions import DataTransferError
from datatransfer.history import default_output, export_to_file
from datatransfer.media import default_archive_output, export_with_media
from datatransfer.models import ExportRecord
from datatransfer.routers import domain_database

logger = logging.getLogger(__name__)

# Seconds between two progress writes within one table (a write at each table anyway).
PROGRESS_INTERVAL = 1.0


class ExportProgress:
    """The exporter's `on_table`: writes on `record` (in `default`) the table being written,
    how many tables were started and the rows written so far, at each table and at most once
    every PROGRESS_INTERVAL seconds within one. A write that fails is only logged."""

    def __init__(self, record: ExportRecord):
        self.record = record
        self.finished_rows = 0  # rows of the tables before the current one
        self.table_rows = 0  # the current table's row count
        self.written = 0  # rows of the current table written so far
        self.saved_at = 0.0

    def __call__(self, key: str, count: int):
        self.finished_rows += self.table_rows
        self.table_rows, self.written = count, 0
        self.record.progress_table = key
        self.record.progress_tables += 1
        self._save(force=True)
        return self.rows

    def rows(self, number: int) -> None:
        self.written += number
        self._save()

    def _save(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.saved_at < PROGRESS_INTERVAL:
            return
        self.saved_at = now
        record = self.record
        record.progress_rows = self.finished_rows + self.written
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                ExportRecord.objects.using(DEFAULT_DB_ALIAS).filter(pk=record.pk).update(
                    progress_table=record.progress_table,
                    progress_tables=record.progress_tables,
                    progress_rows=record.progress_rows,
                )
        except DatabaseError as error:
            logger.warning("Export %s: progress not recorded: %s", record.pk, error)


def queue_export(
    *, user, organizations=(), exclude_secrets: bool = False, with_media: bool = False
) -> ExportRecord:
    """Record an export of the whole database, or of the `organizations` (slugs), as queued
    and hand it to the worker; return the record.

    Raises DataTransferError when it cannot be queued (then nothing is recorded).
    """
    now = timezone.now()
    record = ExportRecord(
        status=ExportRecord.Status.QUEUED,
        started_at=now,
        queued_at=now,
        user=user if user is not None and user.pk else None,
        database=domain_database(),
        organizations=sorted(set(organizations)),
        secrets_excluded=exclude_secrets,
        with_media=with_media,
    )
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS)
            record.task_id = str(run_export.enqueue(record.pk).id)
            record.save(using=DEFAULT_DB_ALIAS, update_fields=["task_id"])
    except DatabaseError as error:
        raise DataTransferError(str(error) or type(error).__name__) from error
    return record


def _start(record_id: int) -> ExportRecord | None:
    """Mark the queued record running and return it; None when it is not queued (already
    run, or gone)."""
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        record = (
            ExportRecord.objects.using(DEFAULT_DB_ALIAS)
            .select_for_update()
            .filter(pk=record_id, status=ExportRecord.Status.QUEUED)
            .first()
        )
        if record is not None:
            record.status = ExportRecord.Status.RUNNING
            record.started_at = timezone.now()
            record.save(using=DEFAULT_DB_ALIAS, update_fields=["status", "started_at"])
    return record


def _interrupted(record: ExportRecord, error: BaseException) -> None:
    """Mark failed a record the export left running (the worker stopped, or a bug)."""
    if record.status not in ExportRecord.IN_PROGRESS:
        return
    record.status = ExportRecord.Status.FAILED
    record.error = f"Interrupted: {error!r}"
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS, update_fields=["status", "error"])
    except DatabaseError as save_error:
        logger.warning("Export %s: failure not recorded: %s", record.pk, save_error)


@task()
def run_export(record_id: int) -> str:
    """Run the export queued as ExportRecord `record_id` (in the worker); return its final
    status. An expected failure (DataTransferError) is recorded on the record, not raised;
    anything else marks the record failed and is raised, for the worker's log."""
    record = _start(record_id)
    if record is None:
        return "not queued"
    options = dict(
        using=record.database,
        organizations=record.organizations,
        exclude=record.excluded_tables,
        exclude_secrets=record.secrets_excluded,
        user=record.user,
        on_table=ExportProgress(record),
        record=record,
    )
    try:
        if record.with_media:
            export_with_media(default_archive_output(), **options)
        else:
            export_to_file(default_output(), **options)
    except DataTransferError:
        pass  # export_to_file recorded it, with its message
    except BaseException as error:
        _interrupted(record, error)
        raise
    return record.status
