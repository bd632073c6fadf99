"""Run an export to a file and record it (ExportRecord, in the `default` database):
the one code path of `dumpdomain` and the admin."""

import contextlib
import datetime as dt
import getpass
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.utils import timezone

from datatransfer.databases import describe
from datatransfer.exceptions import DataTransferError
from datatransfer.exporter import export_domain
from datatransfer.fileformat.writer import check_output_path, open_output
from datatransfer.models import ExportRecord
from datatransfer.reports import ExportReport
from datatransfer.routers import domain_database
from datatransfer.subset import organization_scope

logger = logging.getLogger(__name__)
INTERRUPTED = "Interrupted (Ctrl-C)."


def default_output() -> str:
    """`EXPORTS_DIR/export-<UTC time>.json`, with `-2`, `-3`... when that name is taken."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%S")
    folder = Path(settings.EXPORTS_DIR)
    with contextlib.suppress(OSError):  # a folder that cannot be made is refused later
        folder.mkdir(parents=True, exist_ok=True)  # the project's own folder, not the user's
    path, number = folder / f"export-{stamp}.json", 1
    while path.exists():
        number += 1
        path = folder / f"export-{stamp}-{number}.json"
    return str(path)


def file_digest(path: str) -> tuple[int, str]:
    """The size in bytes and the SHA-256 (hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@dataclass
class ExportRun:
    """What `export_to_file` did: the engine's report, and the history record (None, with
    `warning` saying why, when it could not be saved)."""

    report: ExportReport
    record: ExportRecord | None
    warning: str = ""


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _description(alias: str) -> str:
    """Where `alias` points, without secrets; '' for an unknown alias (the export then fails
    saying so)."""
    try:
        return describe(alias)
    except KeyError:
        return ""


def _save(record: ExportRecord) -> str:
    """Save `record` in `default`; return '' or why it could not be saved.

    A savepoint, so a failure does not break a surrounding transaction."""
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS)
    except DatabaseError as error:
        logger.warning("Export history not recorded: %s", error)
        return f"The export was not recorded in the history: {error}".strip()
    return ""


def export_to_file(
    output: str,
    *,
    using: str | None = None,
    organizations=(),
    exclude=(),
    exclude_secrets: bool = False,
    indent: int | None = 2,
    stdout=None,
    user=None,
    command: str = "",
    on_table=None,
    record: ExportRecord | None = None,
) -> ExportRun:
    """Write the whole database, or the `organizations`' subset (slugs), to `output` (a path,
    or `-` for `stdout`) and record the run, succeeded, failed or interrupted (Ctrl-C, then
    raised again): in `record` when given (a queued export's), otherwise in a new
    ExportRecord.

    Raises DataTransferError (after recording it) for a bad option, an unknown slug, an
    unreachable database or a file that cannot be written.
    """
    using = using or domain_database()
    record = record if record is not None else ExportRecord()
    record.started_at = timezone.now()
    record.user = user if user is not None and user.pk else None
    record.command = command
    record.system_user = _system_user() if command else ""
    record.database = using
    record.database_description = _description(using)
    record.organizations = sorted(set(organizations))
    record.excluded_tables = sorted(exclude)
    record.secrets_excluded = exclude_secrets
    record.file_path = output
    started = time.monotonic()
    try:
        check_output_path(output)
        scope = organization_scope(organizations, using=using) if organizations else None
        try:
            with open_output(output, stdout=stdout) as stream:
                report = export_domain(
                    stream,
                    using=using,
                    exclude=exclude,
                    exclude_secrets=exclude_secrets,
                    indent=indent,
                    file_name=output,
                    scope=scope,
                    on_table=on_table,
                )
        except OSError as error:
            raise DataTransferError(f"Cannot write {output}: {error.strerror or error}.") from error
        if output != "-":
            report.file_size, record.checksum = file_digest(output)
            record.file_size = report.file_size
    except (Exception, KeyboardInterrupt) as error:
        if isinstance(error, KeyboardInterrupt):
            record.status, record.error = ExportRecord.Status.INTERRUPTED, INTERRUPTED
        else:
            record.status = ExportRecord.Status.FAILED
            record.error = str(error) or type(error).__name__
        record.duration = dt.timedelta(seconds=time.monotonic() - started)
        warning = _save(record)
        if warning:
            error.add_note(warning)
        raise
    record.status = ExportRecord.Status.SUCCEEDED
    record.table_counts = dict(report.tables)
    record.total_rows = report.total
    record.duration = dt.timedelta(seconds=time.monotonic() - started)
    warning = _save(record)
    return ExportRun(report=report, record=None if warning else record, warning=warning)
