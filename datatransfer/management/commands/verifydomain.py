"""`manage.py verifydomain`: compare an export file with a database, without writing."""

from django.core.management.base import BaseCommand, CommandError

from datatransfer.exceptions import EXIT_REFUSED, Code, DataTransferError
from datatransfer.leftovers import sweep
from datatransfer.management.interrupts import ctrl_c, sigterm
from datatransfer.management.options import (
    add_comparison_arguments,
    add_database_option,
    add_exclude_options,
    add_report_option,
    check_report_path,
    excluded_tables,
    require_database,
    save_report,
)
from datatransfer.management.rendering import error_line, render_verify_result, start_line
from datatransfer.verifier import verify_domain

SHOWN_DIFFERENCES = 20

# What the command line can do about an engine error, where it differs from loaddomain's.
HINTS = {Code.NOT_VERIFIED: "use --no-verify to compare it anyway"}


class Command(BaseCommand):
    help = (
        "Compare an export file with a database, without writing: rows missing from the "
        "database, rows that differ (field by field), rows the file lacks. Exit 0: they "
        "agree; 1: they differ; 2: the file or the options are wrong, or another session held a "
        "lock too long; 130: interrupted (Ctrl-C); 143 (SIGTERM) or 129 (SIGHUP): stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Export file to compare (.gz too).")
        add_database_option(parser, "read")
        add_exclude_options(parser, skip_audit=True)
        add_comparison_arguments(parser)
        add_report_option(parser, "every difference")

    def handle(self, *args, **options):
        require_database(options["database"])
        sweep()
        exclude = excluded_tables(options)
        check_report_path(options)
        if options["verbosity"] >= 1:
            self.stdout.write(start_line("Comparing", options["file"], options["database"], "with"))
        try:
            with (
                sigterm("Stopped ({signal}): nothing was written."),
                ctrl_c("Interrupted (Ctrl-C): nothing was written."),
            ):
                report = verify_domain(
                    options["file"],
                    using=options["database"],
                    exclude=exclude,
                    ignore_unknown=options["ignore_unknown"],
                    match=options["match"],
                    verify=not options["no_verify"],
                    lock_timeout=options["lock_timeout"],
                )
        except DataTransferError as error:
            raise CommandError(error_line(error, HINTS), returncode=error.exit_code) from None
        save_report(options, report.as_dict(), returncode=EXIT_REFUSED)
        if options["verbosity"] >= 1:
            limit = None if options["verbosity"] >= 2 else SHOWN_DIFFERENCES
            self.stdout.write(render_verify_result(report, limit=limit))
        if not report.agrees:
            raise CommandError(
                f"{options['file']} and database '{options['database']}' differ.", returncode=1
            )
