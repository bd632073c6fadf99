"""`manage.py loaddomain`: upsert an export file into a database, in one transaction."""

import argparse
import math

from django.core.management.base import BaseCommand, CommandError

from datatransfer.engines import DEFAULT_BATCH_SIZE, ENGINES
from datatransfer.exceptions import (
    EXIT_CONFLICTS,
    EXIT_ROWS_FAILED,
    DataTransferError,
    LockTimeoutError,
    SignatureError,
    VerificationError,
)
from datatransfer.importer import import_domain
from datatransfer.management.interrupts import ctrl_c
from datatransfer.management.options import (
    add_database_option,
    add_exclude_options,
    add_report_option,
    check_report_path,
    error_line,
    excluded_tables,
    save_report,
)
from datatransfer.management.progress import TableProgress, is_terminal
from datatransfer.management.standard_input import file_or_stdin
from datatransfer.media import import_archive, is_archive, render_media_import
from datatransfer.registry import domain_tables
from datatransfer.reports import render_import, render_issues

# What the command line can do about an engine error, by its class.
HINTS = {
    LockTimeoutError: "run it again later, or wait longer with --lock-timeout SECONDS",
    VerificationError: "use --no-verify to load it anyway",
    SignatureError: "DATATRANSFER_SIGNING_KEY is set: only files signed with it load",
}

INTERRUPTED = "Interrupted (Ctrl-C): the import was rolled back, nothing was written."


def seconds(value: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of seconds, 0 or more")
    return number


class Command(BaseCommand):
    help = (
        "Upsert an export file (this tool's or the Node.js tool's, .gz too) into a database by "
        "primary key, in one transaction. Exit 0: every row loaded; 1: rows failed; 2: the file "
        "or the options are wrong, or another session held a lock too long (nothing written); "
        "3: no row failed but rows were skipped as conflicts; 130: interrupted (nothing written)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", help="Export file or archive to load; '-' reads standard input."
        )
        add_database_option(parser, "write")
        parser.add_argument(
            "--dry-run", action="store_true", help="Do the whole import, then roll it back."
        )
        add_exclude_options(parser, skip_audit=True)
        parser.add_argument(
            "--strict", action="store_true", help="Roll everything back at the first failed row."
        )
        add_report_option(parser, "the statistics and every issue")
        parser.add_argument(
            "--ignore-unknown", action="store_true", help="Skip tables and fields the models lack."
        )
        parser.add_argument(
            "--engine",
            choices=sorted(ENGINES),
            default="batch",
            help="batch (default): a few queries per batch of rows; "
            "rows: one row at a time (the reference).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per batch (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="Load even a file whose rows do not match its manifest (an edited file), a "
            "format 2.0 file without its manifest, or a file of a format version this tool does "
            "not read, saying so. A signing key is still enforced.",
        )
        parser.add_argument(
            "--overwrite-media",
            action="store_true",
            help="From an archive, replace an uploaded file that differs (default: keep it).",
        )
        parser.add_argument(
            "--match",
            choices=("id", "natural"),
            default="id",
            help="id (default): rows are matched by id; natural: a row whose id is not in the "
            "target but whose natural key (User.email, Organization.slug, ...) is there updates "
            "that row, and every link to it follows.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="If another import is running into the same PostgreSQL database, wait for it "
            "instead of failing.",
        )
        parser.add_argument(
            "--lock-timeout",
            type=seconds,
            metavar="SECONDS",
            help="On PostgreSQL, give up (exit 2, nothing written) when another session holds "
            "a lock the import needs for longer than this (default: DATATRANSFER_LOCK_TIMEOUT, "
            "30; 0: no limit).",
        )

    def handle(self, *args, **options):
        exclude = excluded_tables(options)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        check_report_path(options)
        show_progress = options["verbosity"] >= 1 and is_terminal(self.stderr)
        media = None
        try:
            with (
                ctrl_c(INTERRUPTED),
                file_or_stdin(options["file"], stdin=options.get("stdin")) as path,
                TableProgress(
                    self.stderr._out,
                    enabled=show_progress,
                    tables=len(domain_tables()) - len(exclude),
                ) as progress,
            ):
                load, extra = import_domain, {}
                if is_archive(path):
                    load, extra = import_archive, {"overwrite_media": options["overwrite_media"]}
                report = load(
                    path,
                    using=options["database"],
                    dry_run=options["dry_run"],
                    strict=options["strict"],
                    exclude=exclude,
                    ignore_unknown=options["ignore_unknown"],
                    engine=options["engine"],
                    batch_size=options["batch_size"],
                    wait=options["wait"],
                    verify=not options["no_verify"],
                    match=options["match"],
                    lock_timeout=options["lock_timeout"],
                    on_table=progress,
                    **extra,
                )
                if load is import_archive:
                    report, media = report
                if options["file"] == "-":
                    report.file = "standard input"
        except DataTransferError as error:
            raise CommandError(error_line(error, HINTS), returncode=error.exit_code) from None
        save_report(
            options,
            report.as_dict() | ({"media": media.as_dict()} if media else {}),
            returncode=EXIT_ROWS_FAILED,
            after="; the import " + ("was checked" if report.dry_run else "is committed"),
        )
        verbosity = options["verbosity"]
        if verbosity >= 1:
            self.stdout.write(render_import(report))
            for note in report.notes:
                self.stdout.write(f"Note: {note}")
        if report.issues and verbosity >= 1:
            self.stdout.write(render_issues(report, limit=None if verbosity >= 2 else 20))
        if media and verbosity >= 1:
            limit = None if verbosity >= 2 else 20
            self.stdout.write(render_media_import(media, limit=limit))
        if media and media.has_failures:
            failed = media.counts["failed"]
            raise CommandError(
                f"{failed} uploaded file(s) could not be written (listed above); the database "
                f"import {'was checked' if report.dry_run else 'is committed'}.",
                returncode=EXIT_ROWS_FAILED,
            )
        done = "checked" if report.dry_run else "loaded"
        if report.has_failures:
            failed = report.totals["failed"]
            raise CommandError(
                f"{failed} row(s) failed; the other rows were {done}.",
                returncode=EXIT_ROWS_FAILED,
            )
        if report.has_conflicts:
            skipped = report.totals["skipped"]
            raise CommandError(
                f"{skipped} row(s) skipped as conflicts (their target rows were left as they "
                f"are); the other rows were {done}.",
                returncode=EXIT_CONFLICTS,
            )
