"""Export files hold password hashes and invite tokens: they are deleted once older than
DATATRANSFER_EXPORT_RETENTION_DAYS (`python manage.py pruneexports`), or by hand from the
history, while their history rows stay and say when and by whom the file was deleted.

Only files under EXPORTS_DIR are ever served or deleted: a command may have written
anywhere (`dumpdomain /backups/x.json`), and such a file is its owner's to manage.

The undo journals of imports (DATATRANSFER_JOURNAL_DIR, journal.py) hold the same secrets:
they fall under the same retention (`prune_journals`), after which an import can no longer
be reverted.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from datatransfer.journal import REVERTED_SUFFIX, SUFFIX, journal_dir
from datatransfer.models import ExportRecord


def export_file(record: ExportRecord) -> Path | None:
    """The record's file when it is one of EXPORTS_DIR's, not deleted and still there:
    the file the admin serves and may delete. None otherwise."""
    if (
        record.status != ExportRecord.Status.SUCCEEDED
        or not record.file_path
        or record.file_deleted_at
    ):
        return None
    folder = Path(settings.EXPORTS_DIR).resolve()
    file = Path(record.file_path).resolve()
    return file if file.is_relative_to(folder) and file.is_file() else None


def _mark_deleted(record: ExportRecord, by: str) -> None:
    record.file_deleted_at = timezone.now()
    record.file_deleted_by = by[:150]
    record.save(using=DEFAULT_DB_ALIAS, update_fields=["file_deleted_at", "file_deleted_by"])


def delete_export_file(record: ExportRecord, *, by: str) -> bool:
    """Delete the record's file and mark the record (`by`: who or what deleted it); return
    True. Return False, deleting nothing, when the file is not one the admin may delete
    (see `export_file`) or is not the one written (its size changed).

    Raises OSError when the file cannot be deleted (the record is then left as it was)."""
    file = export_file(record)
    if file is None or file.stat().st_size != record.file_size:
        return False
    file.unlink()
    _mark_deleted(record, by)
    return True


@dataclass
class PruneReport:
    """What `prune_exports` did: the records whose file it deleted (`deleted`, with their
    sizes in `freed`), marked deleted because their file was already gone (`gone`), or
    left alone (`kept`: a file outside EXPORTS_DIR, or changed since it was written)."""

    deleted: list = field(default_factory=list)
    gone: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    freed: int = 0


def expired(days: int, *, now=None):
    """The finished exports older than `days` whose file is not marked deleted."""
    limit = (now or timezone.now()) - dt.timedelta(days=days)
    return (
        ExportRecord.objects.using(DEFAULT_DB_ALIAS)
        .filter(
            status=ExportRecord.Status.SUCCEEDED,
            started_at__lt=limit,
            file_deleted_at__isnull=True,
        )
        .exclude(file_path__in=("", "-"))
        .order_by("started_at", "pk")
    )


def _in_exports_dir(record: ExportRecord) -> bool:
    folder = Path(settings.EXPORTS_DIR).resolve()
    return Path(record.file_path).resolve().is_relative_to(folder)


def prune_exports(days: int, *, dry_run: bool = False, by: str = "pruneexports") -> PruneReport:
    """Delete the files of the exports older than `days` (nothing with `dry_run`) and mark
    their records; return what was done (or would be).

    Raises OSError when a file cannot be deleted (those before it are deleted and marked)."""
    report = PruneReport()
    for record in expired(days):
        file = export_file(record)
        if file is None:
            gone = _in_exports_dir(record) and not Path(record.file_path).exists()
            (report.gone if gone else report.kept).append(record)
            if gone and not dry_run:
                _mark_deleted(record, f"{by} (already gone)")
        elif file.stat().st_size != record.file_size:
            report.kept.append(record)
        else:
            report.deleted.append(record)
            report.freed += record.file_size or 0
            if not dry_run:
                delete_export_file(record, by=by)
    return report


def prune_journals(days: int, *, dry_run: bool = False, now=None) -> list:
    """Delete the undo journals (and their reverted marks) last written more than `days`
    days ago (nothing with `dry_run`); return the run ids deleted (or that would be).

    Raises OSError when a file cannot be deleted."""
    folder = journal_dir()
    if not folder.is_dir():
        return []
    limit = ((now or timezone.now()) - dt.timedelta(days=days)).timestamp()
    runs = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if path.stat().st_mtime >= limit:
            continue
        run = path.name[: -len(SUFFIX)]
        runs.append(run)
        if not dry_run:
            path.unlink()
            (folder / f"{run}{REVERTED_SUFFIX}").unlink(missing_ok=True)
    return runs
