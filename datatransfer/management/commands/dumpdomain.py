"""`manage.py dumpdomain`: write every domain table (or some organizations' subset), in
dependency order, to a JSON file, and record the run in the export history."""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from datatransfer.exceptions import DataTransferError
from datatransfer.exporter import tables_to_export
from datatransfer.history import default_output, export_to_file
from datatransfer.management.interrupts import ctrl_c
from datatransfer.management.options import (
    add_database_option,
    add_exclude_options,
    excluded_tables,
)
from datatransfer.management.progress import TableProgress, is_terminal
from datatransfer.management.rendering import render_export, render_media_export, render_plan
from datatransfer.media import default_archive_output, export_with_media
from datatransfer.registry import domain_tables


def next_step(output: str, source: str) -> str:
    """How to import the file: its path from where the user stands, and the other
    database when exactly one is configured (else a placeholder)."""
    relative = os.path.relpath(output)
    path = output if relative.startswith("..") else relative
    others = [alias for alias in connections if alias not in (DEFAULT_DB_ALIAS, source)]
    target = others[0] if len(others) == 1 else "TARGET"
    return f"Import it with: python manage.py loaddomain {path} --database {target} --dry-run"


class Command(BaseCommand):
    help = (
        "Write every domain table, in dependency order, to a JSON file (the Node.js tool's "
        "format). OUTPUT (or -o OUTPUT) defaults to exports/export-<UTC time>.json; '-' is stdout; "
        ".gz, .bz2 and .xz compress."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "output", nargs="?", help="File to write (default: exports/export-<time>.json)."
        )
        parser.add_argument("-o", "--output", dest="output_option", help="Same as OUTPUT.")
        add_database_option(parser, "read")
        add_exclude_options(parser, skip_audit=True)
        parser.add_argument(
            "--organization",
            action="append",
            default=[],
            metavar="SLUG",
            help="Export only this organization, its data and the rows they reference; "
            "repeat for several.",
        )
        parser.add_argument(
            "--exclude-secrets",
            action="store_true",
            help="Write password hashes and invite tokens empty.",
        )
        parser.add_argument(
            "--indent",
            type=int,
            default=2,
            help="Indentation (default 2, as the old tool; 0 for one line).",
        )
        parser.add_argument(
            "--plan", action="store_true", help="Print the table order and dependencies, and stop."
        )
        parser.add_argument(
            "--with-media",
            action="store_true",
            help="Write a tar archive (OUTPUT.tar or .tar.gz): the export and every uploaded file "
            "its documents name, from MEDIA_ROOT.",
        )

    def handle(self, *args, **options):
        exclude = excluded_tables(options)
        with_media = options["with_media"]
        output = options["output_option"] or options["output"]
        # With the data on stdout, every message goes to stderr.
        messages = self.stderr if output == "-" else self.stdout
        try:
            if options["plan"] or options["verbosity"] >= 2:
                messages.write(render_plan(tables_to_export(exclude)))
                if options["plan"]:
                    return
            if options["output_option"] and options["output"]:
                raise CommandError(
                    "Give the output once: OUTPUT or -o/--output, not both.", returncode=2
                )
            output = output or (default_archive_output() if with_media else default_output())
            show_progress = options["verbosity"] >= 1 and is_terminal(self.stderr)
            interrupted = (
                "Interrupted (Ctrl-C): what went to stdout is an incomplete export."
                if output == "-"
                else "Interrupted (Ctrl-C): no file was written."
            )
            with (
                ctrl_c(interrupted),
                TableProgress(
                    self.stderr._out,
                    enabled=show_progress,
                    tables=len(domain_tables()) - len(exclude),
                ) as progress,
            ):
                export_options = dict(
                    using=options["database"],
                    organizations=options["organization"],
                    exclude=exclude,
                    exclude_secrets=options["exclude_secrets"],
                    indent=options["indent"] or None,
                    on_table=progress,
                )
                if with_media:
                    command = "dumpdomain --with-media"
                    media = export_with_media(output, command=command, **export_options)
                    run = media.run
                else:
                    # The raw stream: Django's OutputWrapper would add a newline to every write.
                    stdout, command = self.stdout._out, "dumpdomain"
                    run = export_to_file(output, stdout=stdout, command=command, **export_options)
        except DataTransferError as error:
            raise CommandError(str(error), returncode=error.exit_code) from None
        if run.warning:
            self.stderr.write(self.style.WARNING(f"Warning: {run.warning}"))
        report = run.report
        if options["verbosity"] >= 1:
            messages.write(render_export(report))
            if with_media:
                limit = None if options["verbosity"] >= 2 else 20
                messages.write(render_media_export(media.manifest, limit=limit))
            if output != "-":
                messages.write(next_step(output, options["database"]))
