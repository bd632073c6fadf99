"""`manage.py dumpdomain`: write every domain table (or some organizations' subset), in
dependency order, to a JSON file, and record the run in the export history."""

from django.core.management.base import BaseCommand, CommandError

from datatransfer.exceptions import DataTransferError
from datatransfer.export_job import ExportJob, OutputClosed
from datatransfer.exporter import tables_to_export
from datatransfer.leftovers import sweep
from datatransfer.management.interrupts import ctrl_c, leave_closed_pipe, sigterm
from datatransfer.management.options import (
    add_export_options,
    excluded_tables,
    export_options,
    require_database,
)
from datatransfer.management.rendering import (
    error_line,
    masked_line,
    next_since,
    next_step,
    render_export,
    render_media_export,
    render_plan,
    start_line,
)
from datatransfer.masks import Keyed
from datatransfer.progress import TableProgress, is_terminal

INTERRUPTED = "Interrupted (Ctrl-C): no file was written."
INTERRUPTED_STDOUT = "Interrupted (Ctrl-C): what went to stdout is an incomplete export."
STOPPED = "Stopped ({signal}): no file was written."
STOPPED_STDOUT = "Stopped ({signal}): what went to stdout is an incomplete export."


class CountedOutput:
    """Standard output (a text stream) that counts the bytes written to it, in UTF-8: the
    size the summary gives for `dumpdomain -`, which has no file to measure."""

    def __init__(self, stream):
        self.stream = stream
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text.encode("utf-8"))
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Command(BaseCommand):
    help = (
        "Write every domain table, in dependency order, to a JSON file (the Node.js tool's "
        "format). OUTPUT (or -o OUTPUT) defaults to exports/export-<UTC time>.json; '-' is "
        "stdout; .gz, .bz2 and .xz compress. Exit status: 0 done; 2 refused or failed (a write "
        "error, another session's lock held too long), no file written; 130 interrupted "
        "(Ctrl-C); 143 stopped (SIGTERM; 129: SIGHUP, a terminal closed), no file written; 141 "
        "the reader of stdout closed the pipe (dumpdomain - | head): no message, recorded in "
        "the history as interrupted."
    )

    def add_arguments(self, parser):
        add_export_options(parser)
        parser.add_argument(
            "--plan", action="store_true", help="Print the table order and dependencies, and stop."
        )

    def handle(self, *args, **options):
        # With the data on stdout, every message goes to stderr.
        to_stdout = (options["output_option"] or options["output"]) == "-"
        messages = self.stderr if to_stdout else self.stdout
        if options["plan"] or options["verbosity"] >= 2:
            messages.write(render_plan(tables_to_export(excluded_tables(options))))
            if options["plan"]:
                return
        require_database(options["database"])
        sweep()
        try:
            export = export_options(options)
            if options["verbosity"] >= 1:
                into = "standard output" if to_stdout else export.output
                messages.write(start_line("Exporting to", into, options["database"], "from"))
            with (
                sigterm(STOPPED_STDOUT if to_stdout else STOPPED),
                ctrl_c(INTERRUPTED_STDOUT if to_stdout else INTERRUPTED),
                TableProgress(
                    self.stderr._out,
                    enabled=options["verbosity"] >= 1 and is_terminal(self.stderr),
                    tables=len(tables_to_export(export.exclude)),
                ) as progress,
            ):
                # The raw stream: Django's OutputWrapper would add a newline to every write.
                output = CountedOutput(self.stdout._out)
                run = ExportJob(export, on_table=progress, stdout=output).run()
        except OutputClosed as error:
            leave_closed_pipe(self.stdout._out, error.exit_code)
        except DataTransferError as error:
            raise CommandError(error_line(error), returncode=error.exit_code) from None
        if to_stdout:
            run.report.file_size = output.size
        if run.warning:
            self.stderr.write(self.style.WARNING(f"Warning: {run.warning}"))
        if options["verbosity"] >= 1:
            messages.write(render_export(run.report))
            if export.anonymize:
                messages.write(masked_line(Keyed(export.anonymize_key).key_id))
            if run.manifest is not None:
                limit = None if options["verbosity"] >= 2 else 20
                messages.write(render_media_export(run.manifest, limit=limit))
            if run.until is not None:
                messages.write(next_since(export.since, run.until))
            if not to_stdout:
                messages.write(next_step(export.output, options["database"]))
