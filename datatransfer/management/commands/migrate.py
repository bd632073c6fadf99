"""`manage.py migrate`, Django's, with a database it cannot use reported in one line.

Django's own command prints a traceback for a database that does not answer, or whose
URL's `?schema=` names no schema that exists (it cannot create its django_migrations
table there). Here either is a one-line error naming the alias and where it points, never
a password, with the exit status of a refusal (2): nothing was migrated.
"""

from django.core.management import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.exceptions import MigrationSchemaMissing

from datatransfer.databases import describe
from datatransfer.exceptions import EXIT_REFUSED, first_line


class Command(DjangoMigrate):
    def execute(self, *args, **options):
        """Django's migrate, its system checks too (they may connect to the database)."""
        alias = options.get("database") or DEFAULT_DB_ALIAS
        try:
            return super().execute(*args, **options)
        except OperationalError as error:
            connected = connections[alias].connection is not None
            what = "Cannot migrate database" if connected else "Cannot connect to database"
            raise refusal(alias, what, error) from None
        except MigrationSchemaMissing as error:
            raise refusal(
                alias,
                "Cannot migrate database",
                error.__context__ or error,  # the database's own error
                hint=" (does the schema its URL's `?schema=` names exist?)",
            ) from None


def refusal(alias: str, what: str, error: BaseException, hint: str = "") -> CommandError:
    """`what 'alias' (where it points): the error's first line` and the hint, the
    password blotted out."""
    reason = first_line(error)
    password = connections.settings[alias].get("PASSWORD")
    if password:
        reason = reason.replace(password, "********")
    return CommandError(
        f"{what} '{alias}' ({describe(alias)}): {reason}{hint}", returncode=EXIT_REFUSED
    )
