"""`manage.py pruneexports`: delete the export files older than the retention
(DATATRANSFER_EXPORT_RETENTION_DAYS, or --days), keeping their history rows, marked; and
first what runs that were killed left behind (leftovers.py), their records marked
interrupted."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from datatransfer.files import human_size
from datatransfer.leftovers import sweep
from datatransfer.management.rendering import render_swept
from datatransfer.retention import prune_exports, prune_journals


def positive_days(value: str) -> int:
    days = int(value)
    if days < 1:
        raise ValueError(value)
    return days


class Command(BaseCommand):
    help = (
        "Delete the export files (under EXPORTS_DIR) older than DATATRANSFER_EXPORT_RETENTION_DAYS "
        "days; their history rows stay, marked as deleted; and the undo journals of imports "
        "(DATATRANSFER_JOURNAL_DIR) as old. First, remove what runs that were "
        "killed left behind (temporary files) and mark their records interrupted. Run it "
        "daily (cron, a timer)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=positive_days,
            help="Delete files older than this many days (default: "
            "DATATRANSFER_EXPORT_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be deleted, delete nothing."
        )

    def handle(self, *args, days=None, dry_run=False, verbosity=1, **options):
        swept = sweep(dry_run=dry_run)
        if verbosity >= 1:
            self.stdout.write(render_swept(swept, dry_run=dry_run))
        days = days or settings.DATATRANSFER_EXPORT_RETENTION_DAYS
        if days < 1:
            if verbosity >= 1:
                self.stdout.write(
                    "Retention is off (DATATRANSFER_EXPORT_RETENTION_DAYS=0): nothing deleted."
                )
            return
        try:
            report = prune_exports(days, dry_run=dry_run)
            journals = prune_journals(days, dry_run=dry_run)
        except OSError as error:
            raise CommandError(
                f"Cannot delete {error.filename}: {error.strerror or error}."
            ) from None
        if verbosity >= 1:
            self.stdout.write(self.render(report, days, dry_run))
            verb = "Would delete" if dry_run else "Deleted"
            self.stdout.write(
                f"{verb} {len(journals)} undo journal(s) of imports older than {days} days"
                + (f": {', '.join(journals)}." if journals else ".")
            )

    def render(self, report, days, dry_run) -> str:
        verb = "Would delete" if dry_run else "Deleted"
        lines = [f"{verb}: {record.file_path}" for record in report.deleted]
        lines += [f"Already gone: {record.file_path}" for record in report.gone]
        lines += [
            f"Left alone (outside EXPORTS_DIR, or changed since written): {record.file_path}"
            for record in report.kept
        ]
        lines.append(
            f"{verb} {len(report.deleted)} export file(s) older than {days} days "
            f"({human_size(report.freed)}); their history stays."
        )
        if dry_run:
            lines.append("DRY RUN: nothing was deleted.")
        return "\n".join(lines)
