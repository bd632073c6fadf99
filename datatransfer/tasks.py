"""Exports in the background. The admin queues an export (an ExportRecord, status queued,
and a task of Django's tasks framework, database backend, both in `default`); the worker
(`python manage.py db_worker`) runs it as `dumpdomain` does, with an ExportJob, writing
its progress on the record as it goes.

A whole-database export takes about 25 s per million rows: far longer than an HTTP request
may last behind a proxy.
"""

import logging
import time

from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.utils import timezone
from django_tasks import task

from datatransfer.exceptions import DataTransferError
from datatransfer.export_job import ExportJob, ExportOptions
from datatransfer.history import outcome_of
from datatransfer.leftovers import owner
from datatransfer.masks import require_key
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
    *,
    user,
    organizations=(),
    exclude_secrets: bool = False,
    with_media: bool = False,
    anonymize: bool = False,
) -> ExportRecord:
    """Record an export of the whole database, or of the `organizations` (slugs), as queued
    and hand it to the worker; return the record. With `anonymize`, its personal fields
    are masked (docs/masking.md).

    Raises DataTransferError when it cannot be queued (then nothing is recorded): an
    anonymized export without DATATRANSFER_ANONYMIZE_KEY is refused here, not in the worker.
    """
    if anonymize:
        require_key(None)
        if with_media:
            raise DataTransferError(
                "An anonymized export cannot include the uploaded files: they are not masked."
            )
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
        anonymized=anonymize,
    )
    return save_and_enqueue(record, run_export)


def save_and_enqueue(record, run):
    """Save `record` (an export's or an import's) and hand it to the worker's task `run`,
    in one transaction of the project's database; return it. Raises DataTransferError
    when it cannot be queued (then nothing is recorded)."""
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS)
            record.task_id = str(run.enqueue(record.pk).id)
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
            record.owner = owner()
            record.started_at = timezone.now()
            record.save(using=DEFAULT_DB_ALIAS, update_fields=["status", "owner", "started_at"])
    return record


def _ended(record: ExportRecord, error: BaseException) -> None:
    """Record how the export ended when the job could not (its options refused before it
    began, or a record left running): failed, or interrupted when the worker was stopped."""
    if record.status not in ExportRecord.IN_PROGRESS:
        return
    record.status, record.error = outcome_of(error)
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS, update_fields=["status", "error"])
    except DatabaseError as save_error:
        logger.warning("Export %s: end not recorded: %s", record.pk, save_error)


def export_options(record: ExportRecord) -> ExportOptions:
    """The options of the export queued as `record` (a new file in EXPORTS_DIR).
    Raises DataTransferError as ExportOptions does."""
    return ExportOptions(
        using=record.database,
        organizations=record.organizations,
        exclude=record.excluded_tables,
        exclude_secrets=record.secrets_excluded,
        media=record.with_media,
        anonymize=record.anonymized,
        user=record.user,
    )


@task()
def run_export(record_id: int) -> str:
    """Run the export queued as ExportRecord `record_id` (in the worker); return its final
    status. An expected failure (DataTransferError) is recorded on the record, not raised.
    The worker stopped in the middle (`db_worker` given a second SIGTERM or SIGINT, which
    raises SystemExit) marks the record interrupted, and the partial file is removed, as
    on any error; anything else marks it failed and is raised, for the worker's log."""
    record = _start(record_id)
    if record is None:
        return "not queued"
    try:
        job = ExportJob(export_options(record), record=record, on_table=ExportProgress(record))
        if warning := job.run().warning:
            logger.warning("Export %s: %s", record.pk, warning)
    except DataTransferError as error:
        _ended(record, error)  # the job recorded it already, unless its options were refused
    except BaseException as error:
        _ended(record, error)
        raise
    return record.status
