"""`manage.py inspectprisma`: the platform's models (core/models.py) from its `schema.prisma`."""

import os
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from core.modelcheck import model_differences, schema_models
from core.modelgen import generate_models
from core.prisma_schema import PrismaSchemaError, parse_schema

CORE = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = CORE / "prisma" / "schema.prisma"
DEFAULT_OUTPUT = CORE / "models.py"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` under a temporary name, then rename it: a module is never
    left half-written. A folder that is missing or read-only is one line, exit 2."""
    partial = path.with_name(f".{path.name}.inspectprisma-part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise CommandError(f"Cannot write {path}: {error.strerror}", returncode=2) from None


class Command(BaseCommand):
    help = (
        "Write the platform's models (core/models.py) from its Prisma schema, as inspectdb "
        "does from a database; what the schema does not say comes from core/model_extras.py. "
        "With --check, write nothing: exit 1 naming each difference between the schema and "
        "the models."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "schema",
            nargs="?",
            default=str(DEFAULT_SCHEMA),
            help="The Prisma schema (default: core/prisma/schema.prisma).",
        )
        parser.add_argument(
            "-o",
            "--output",
            default=str(DEFAULT_OUTPUT),
            help="The models module to write (default: core/models.py).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit 1 if the models differ from the schema, naming each "
            "difference.",
        )

    def handle(self, *args, schema, output, check, **options):
        self.verbosity = options["verbosity"]
        schema_path, output_path = Path(schema), Path(output)
        try:
            text = schema_path.read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot read {schema}: {error.strerror}", returncode=2) from None
        try:
            source = generate_models(parse_schema(text))
        except PrismaSchemaError as error:
            raise CommandError(f"{_shown(schema_path)}: {error}", returncode=2) from None
        if check:
            self.check_models(source, schema_path, output_path)
            return
        if output_path.exists() and output_path.read_text(encoding="utf-8") == source:
            self.stdout.write(f"{_shown(output_path)} is up to date with {_shown(schema_path)}.")
            return
        _write_whole(output_path, source)
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {_shown(output_path)} from {_shown(schema_path)}.")
        )
        if self.verbosity >= 1:
            self.stdout.write(
                "Next, for the SQLite test copies: python manage.py makemigrations core"
            )

    def check_models(self, source: str, schema_path: Path, output_path: Path):
        current = list(apps.get_app_config("core").get_models())
        differences = model_differences(schema_models(source), current)
        written = output_path.read_text(encoding="utf-8") if output_path.exists() else ""
        if not differences and written != source:
            differences = [
                f"{_shown(output_path)} is not what inspectprisma writes (it was edited by "
                "hand, or core/model_extras.py changed)"
            ]
        if not differences:
            if self.verbosity >= 1:
                self.stdout.write(
                    f"The models match {_shown(schema_path)} ({len(current)} models)."
                )
            return
        for line in differences:
            self.stderr.write(line)
        argument = "" if schema_path.resolve() == DEFAULT_SCHEMA else f" {_shown(schema_path)}"
        raise CommandError(
            f"{len(differences)} difference(s) between {_shown(schema_path)} and the models: "
            f"run `python manage.py inspectprisma{argument}`, then `makemigrations core`",
            returncode=1,
        )
