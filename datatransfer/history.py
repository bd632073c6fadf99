"""The export history: one ExportRecord per run, in the `default` database, saved when the
run starts (running) and once more when it ends (succeeded, failed or interrupted). A
history that cannot be saved never fails the export: the save says why, as a warning."""

import contextlib
import datetime as dt
import getpass
import logging
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from datatransfer.databases import describe
from datatransfer.exceptions import Code
from datatransfer.leftovers import owner
from datatransfer.models import ExportRecord

logger = logging.getLogger(__name__)

INTERRUPTED = "Interrupted (Ctrl-C)."
STOPPED = "Interrupted: the process running the export was stopped."
PIPE_CLOSED = "Stopped: the reader closed the pipe; what went to stdout is incomplete."


def default_output(suffix: str) -> str:
    """`EXPORTS_DIR/export-<UTC time><suffix>`, with `-2`, `-3`... when that name is taken."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%S")
    folder = Path(settings.EXPORTS_DIR)
    with contextlib.suppress(OSError):  # a folder that cannot be made is refused later
        folder.mkdir(parents=True, exist_ok=True)  # the project's own folder, not the user's
    path, number = folder / f"export-{stamp}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"export-{stamp}-{number}{suffix}"
    return str(path)


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


def save_record(record: ExportRecord) -> str:
    """Save `record` in `default`; return '' or why it could not be saved, for the caller
    to say once (a run saves its record twice: one warning, not one per save).

    A savepoint, so a failure does not break a surrounding transaction."""
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            record.save(using=DEFAULT_DB_ALIAS)
    except DatabaseError as error:
        logger.info("Export history not recorded: %s", error)
        if not _history_table_exists():
            return (
                "The export was not recorded in the history: this project's own tables do "
                "not exist yet (run `python manage.py migrate` once)."
            )
        return f"The export was not recorded in the history: {error}".strip()
    return ""


def _history_table_exists() -> bool:
    """Whether `default` has the history's table (no: `migrate` was never run there)."""
    try:
        tables = connections[DEFAULT_DB_ALIAS].introspection.table_names()
    except DatabaseError:
        return True  # the database itself fails: its own error says more
    return ExportRecord._meta.db_table in tables


def begin_record(record: ExportRecord, options) -> str:
    """Fill `record` (a new one, or a queued export's) from the ExportOptions `options`,
    mark it running and save it; return '' or why it could not be saved."""
    record.status = ExportRecord.Status.RUNNING
    record.owner = owner()
    record.started_at = timezone.now()
    record.user = options.user if options.user is not None and options.user.pk else None
    record.command = options.command
    record.system_user = _system_user() if options.command else ""
    record.database = options.using
    record.database_description = _description(options.using)
    record.organizations = list(options.organizations)
    record.excluded_tables = sorted(options.exclude)
    record.secrets_excluded = options.exclude_secrets
    record.with_media = options.media
    record.anonymized = options.anonymize
    record.file_path = options.output
    return save_record(record)


def outcome_of(error: BaseException) -> tuple[str, str]:
    """The status and the message a run that ended with `error` is recorded with: a
    Ctrl-C or a stopped process is `interrupted`, anything else `failed`."""
    if isinstance(error, KeyboardInterrupt):
        return ExportRecord.Status.INTERRUPTED, INTERRUPTED
    if isinstance(error, SystemExit):
        return ExportRecord.Status.INTERRUPTED, STOPPED
    if getattr(error, "code", None) == Code.OUTPUT_CLOSED:
        return ExportRecord.Status.INTERRUPTED, PIPE_CLOSED
    return ExportRecord.Status.FAILED, str(error) or type(error).__name__
