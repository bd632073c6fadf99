"""`manage.py seeddemo`: fill an empty database with the deterministic demo data set."""

import argparse
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from core import models
from core.demo import DOMAIN_MODELS, DatabaseNotEmpty, non_empty_tables, row_counts, seed_demo
from datatransfer.databases import require_configured
from datatransfer.exceptions import DataTransferError
from datatransfer.progress import TableProgress, is_terminal


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def _tables(keys: list[str]) -> str:
    shown = ", ".join(keys[:3])
    return f"{shown} and {len(keys) - 3} more tables" if len(keys) > 3 else shown


class Command(BaseCommand):
    help = (
        "Fill an empty database with a deterministic, realistic demo data set in all 16 "
        "domain tables: 1,176 rows at --scale 1, then 1,145 more per unit of --scale."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=positive_int, default=1, help="Size multiplier (default 1)."
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--database",
            default=None,
            help="The database to fill (default: the platform's, DATABASE_URL).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Delete the existing domain rows first (with --confirm naming the database).",
        )
        parser.add_argument(
            "--confirm",
            metavar="ALIAS",
            default="",
            help="With --force, the database's alias again: a deliberate act, not a habit.",
        )

    def handle(self, *args, scale, seed, database, force, confirm, verbosity, **options):
        database = database or router.db_for_write(models.Organization)
        if database not in connections.settings:
            raise CommandError(
                f"Unknown database '{database}' (see DATABASES or DATABASE_URL_<NAME>)."
            )
        try:
            require_configured(database)
        except DataTransferError as error:
            raise CommandError(str(error), returncode=error.exit_code) from None
        existing = non_empty_tables(database)
        if existing and not force:
            raise CommandError(
                f"The database '{database}' already holds domain rows ({_tables(existing)}): "
                f"to delete them first, name it: --force --confirm {database}"
            )
        if existing and confirm != database:
            raise CommandError(
                f"The database '{database}' holds domain rows ({_tables(existing)}); "
                f"--force deletes them only when you name it: --force --confirm {database}"
            )
        if existing and verbosity >= 1:
            self.stdout.write(
                f"--force: deleting the domain rows of '{database}' ({_tables(existing)})."
            )
        started = time.monotonic()
        try:
            with TableProgress(
                self.stderr._out,
                enabled=verbosity >= 1 and is_terminal(self.stderr),
                tables=len(DOMAIN_MODELS),
                rows=sum(row_counts(scale).get(key, 0) for key in DOMAIN_MODELS),
            ) as progress:
                counts = seed_demo(
                    scale=scale, seed=seed, using=database, replace=force, on_table=progress
                )
        except DatabaseNotEmpty as error:  # filled by someone else in the meantime
            raise CommandError(f"{error} Use --force to delete them first.") from error
        if verbosity >= 1:
            width = max(map(len, counts))
            for table, count in counts.items():
                self.stdout.write(f"  {table:<{width}}  {count:>9,}")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Seeded '{database}' with {sum(counts.values()):,} rows "
                    f"(scale {scale}, seed {seed}) in {time.monotonic() - started:.1f}s."
                )
            )
