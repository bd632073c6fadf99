"""`manage.py revertimport RUN`: put a database back as it was before an import, from the
import's undo journal (datatransfer/revert.py)."""

from django.core.management.base import BaseCommand, CommandError

from datatransfer.exceptions import Code, DataTransferError
from datatransfer.leftovers import sweep
from datatransfer.management.confirmation import add_no_input_argument, confirm
from datatransfer.management.interrupts import ctrl_c, sigterm
from datatransfer.management.options import require_database
from datatransfer.management.rendering import (
    database_named,
    error_line,
    render_revert,
    render_table,
    start_line,
)
from datatransfer.revert import RevertJob, RevertOptions

# What the command line can do about an engine error, where it differs from loaddomain's.
HINTS = {Code.IMPORT_LOCKED: "run it again once that import is done"}


class Command(BaseCommand):
    help = (
        "Put a database back exactly as it was before an import (RUN: the id the import's "
        "summary ends with), in one transaction: the rows it updated get their previous "
        "values and links back, the rows it created or appended are deleted. Refused, naming "
        "the rows, when someone changed them since. Exit 0: reverted (or, with --dry-run, "
        "would be); 2: unknown run, reverted already, or the database cannot be used (nothing "
        "written); 5: rows changed since the import (nothing written); 130: interrupted; "
        "143 (SIGTERM) or 129 (SIGHUP): stopped (nothing written)."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", help="The import's run id (20261207-181500-3f9a).")
        parser.add_argument(
            "--database",
            help="Database alias to revert (default: the one the import wrote into).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check and say what the revert would do, per table; write nothing.",
        )
        add_no_input_argument(parser)

    def handle(self, *args, **options):
        sweep()
        try:
            job = RevertJob(
                RevertOptions(
                    run=options["run"], using=options["database"], dry_run=options["dry_run"]
                )
            )
        except DataTransferError as error:
            raise CommandError(error_line(error), returncode=error.exit_code) from None
        require_database(job.using)
        if not options["dry_run"]:
            self.confirm(options, job)
        if options["verbosity"] >= 1:
            verb = "Dry run: checking the revert of" if options["dry_run"] else "Reverting"
            self.stdout.write(start_line(verb, f"run {options['run']}", job.using, "in"))
        try:
            with (
                sigterm("Stopped ({signal}): the revert was rolled back, nothing was written."),
                ctrl_c("Interrupted (Ctrl-C): the revert was rolled back, nothing was written."),
            ):
                report = job.run()
        except DataTransferError as error:
            raise CommandError(error_line(error, HINTS), returncode=error.exit_code) from None
        if options["verbosity"] >= 1:
            self.stdout.write(render_revert(report))

    def confirm(self, options, job) -> None:
        """At a terminal, show what the revert undoes and where, and ask (confirmation.py)."""
        target = database_named(job.using)
        counts = job.header.get("tables", {})
        kinds = ("created", "appended", "updated")
        rows = [[key, *(f"{c.get(kind, 0):,}" for kind in kinds)] for key, c in counts.items()]
        total = ["total", *(f"{sum(c.get(k, 0) for c in counts.values()):,}" for k in kinds)]
        lines = [
            f"revertimport will write into {target}:",
            f"it undoes run {options['run']}, the import of {job.header.get('file')} "
            f"({job.header.get('at')}): its rows deleted, its updated rows restored.",
            render_table(["table", *kinds], rows, total),
        ]
        confirm(
            self,
            options,
            lines,
            action=f"revertimport writes into {target}",
            cancelled="Revert cancelled: nothing was written.",
        )
