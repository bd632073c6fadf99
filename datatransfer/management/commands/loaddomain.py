"""`manage.py loaddomain`: upsert an export file into a database, in one transaction."""

from django.core.management.base import BaseCommand, CommandError

from datatransfer.exceptions import EXIT_ROWS_FAILED, DataTransferError
from datatransfer.importer import ImportJob
from datatransfer.journal import import_journal
from datatransfer.leftovers import sweep
from datatransfer.management.confirmation import add_no_input_argument
from datatransfer.management.import_question import confirm_import
from datatransfer.management.interrupts import ctrl_c, sigterm
from datatransfer.management.options import (
    add_import_arguments,
    add_prune_argument,
    check_report_path,
    import_options,
    require_database,
    save_report,
)
from datatransfer.management.planning import Planning, add_plan_arguments
from datatransfer.management.rendering import (
    error_line,
    import_verdict,
    left_out_note,
    render_import_result,
    start_line,
    undo_line,
)
from datatransfer.management.standard_input import file_or_stdin
from datatransfer.progress import TableProgress, is_terminal, manifest_rows
from datatransfer.registry import audit_log_keys

INTERRUPTED = "Interrupted (Ctrl-C): the import was rolled back, nothing was written."
STOPPED = "Stopped ({signal}): the import was rolled back, nothing was written."


class Command(BaseCommand):
    help = (
        "Upsert an export file (this tool's or the Node.js tool's, .gz too) into a database by "
        "primary key, in one transaction. Unless --dry-run or --no-input, it first shows the "
        "target database, the file and its rows per table, and asks for 'yes' (on standard "
        "error); it refuses when standard input is not a terminal or is the file ('-'). "
        "Exit 0: every row loaded; 1: rows failed, or rows were written without a link they "
        "could not set (unlinked: they differ from the file); 2: the file or the options are "
        "wrong, the question could not be asked or was not answered yes, or another session "
        "held a lock too long (nothing written); 3: no row failed nor was unlinked, but rows "
        "were skipped as conflicts; 4: with --apply, the file or the target changed since the "
        "plan (nothing written); 130: interrupted, at the question too (nothing written); 143 "
        "(SIGTERM) or 129 (SIGHUP): stopped (nothing written)."
    )
    # call_command("loaddomain", "-", stdin=STREAM) reads STREAM (bytes) for standard input.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        add_import_arguments(parser)
        add_prune_argument(parser)
        add_plan_arguments(parser)
        add_no_input_argument(parser)

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        require_database(options["database"])
        sweep()
        try:
            planning = Planning(options)  # --plan-out, --apply: checked first
            options["file"] = planning.file(options["file"])
            job_options = planning.import_options(import_options(options))
            check_report_path(options)
            confirm_import(self, options, job_options)  # before any transaction opens
            if verbosity >= 1:
                self.stdout.write(self.starting(options))
            progress = TableProgress(
                self.stderr._out, enabled=verbosity >= 1 and is_terminal(self.stderr)
            )
            with (
                sigterm(STOPPED),
                ctrl_c(INTERRUPTED),
                file_or_stdin(options["file"], stdin=options.get("stdin")) as path,
                progress,
            ):
                if progress.enabled:  # the overall line's total: the file's own count
                    progress.rows = manifest_rows(path, job_options.exclude)
                planning.check_file(path, self.file_name(options))
                with import_journal(job_options.dry_run) as journal:  # a real import's undo
                    observers = (*planning.observers(), *journal)
                    report = ImportJob(job_options, on_table=progress, observers=observers).run(
                        path
                    )
                stdin = options["file"] == "-"
                planning.write_plan(report, path, self.file_name(options), stdin=stdin)
        except DataTransferError as error:
            raise CommandError(error_line(error), returncode=error.exit_code) from None
        if options["file"] == "-":
            report.file = "standard input"
        save_report(
            options,
            report.as_dict() | {"phaseSeconds": report.phases},
            returncode=EXIT_ROWS_FAILED,
            after="; the import " + ("was checked" if report.dry_run else "is committed"),
        )
        if verbosity >= 1:
            self.stdout.write(render_import_result(report, limit=None if verbosity >= 2 else 20))
            if job_options.exclude:
                self.stdout.write(left_out_note(job_options.exclude, audit_log_keys()))
            for line in planning.lines(report):
                self.stdout.write(line)
            if report.run:
                self.stdout.write(undo_line(report.run))
        if verdict := import_verdict(report):
            message, returncode = verdict
            raise CommandError(message, returncode=returncode)

    @staticmethod
    def file_name(options) -> str:
        return "standard input" if options["file"] == "-" else options["file"]

    @staticmethod
    def starting(options) -> str:
        """The first line, naming the file and where the database really is."""
        file = "standard input" if options["file"] == "-" else options["file"]
        if options["dry_run"]:
            return start_line("Dry run: checking", file, options["database"], "against")
        return start_line("Loading", file, options["database"], "into")
