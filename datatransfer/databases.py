"""Opening a database alias for the engines, with errors that name it but never its password."""

import contextlib

from django.db import OperationalError, connections, transaction
from django.utils.connection import ConnectionDoesNotExist

from config.database_urls import is_unset
from config.unset_database.base import NOT_CONFIGURED
from datatransfer.exceptions import DatabaseUnavailableError
from datatransfer.registry import domain_tables
from datatransfer.schemacheck import check_schema


def describe(alias: str) -> str:
    """Where an alias points, without secrets: `postgresql 127.0.0.1:5432/app` or
    `sqlite db.sqlite3`."""
    config = connections.settings[alias]
    if is_unset(config):
        return "not configured"
    vendor = config["ENGINE"].rsplit(".", 1)[-1]
    if vendor == "sqlite3":
        return f"sqlite {config['NAME']}"
    host = config.get("HOST") or "localhost"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"{vendor} {host}{port}/{config.get('NAME', '')}"


def require_configured(alias: str) -> None:
    """Refuse the platform's alias when DATABASE_URL is not set, before anything is done
    (config/unset_database: there is no file to fall back to).

    Raises DatabaseUnavailableError."""
    if alias in connections.settings and is_unset(connections.settings[alias]):
        raise DatabaseUnavailableError(NOT_CONFIGURED)


def open_connection(alias: str, *, before_check=None):
    """Return the connection of `alias`, connected, once its schema is checked against the
    domain's models (schemacheck.py). `before_check(connection, described_as)`, if given,
    runs first (the import's comparison with the file's source: schemarecord.py).

    Raises DatabaseUnavailableError for an unknown alias or a database that refuses, and
    SchemaMismatchError for a database whose tables are not the models'.
    """
    try:
        connection = connections[alias]
    except ConnectionDoesNotExist:
        known = ", ".join(sorted(connections.settings))
        raise DatabaseUnavailableError(
            f"Unknown database alias '{alias}' (configured: {known}; "
            f"set DATABASE_URL_{alias.upper()} to add it)."
        ) from None
    require_configured(alias)
    try:
        connection.ensure_connection()
    except OperationalError as error:
        reason = next(
            (line for line in str(error).splitlines() if line.strip()), type(error).__name__
        )
        raise DatabaseUnavailableError(
            f"Cannot connect to database '{alias}' ({describe(alias)}): {reason.strip()}"
        ) from None
    if before_check is not None:
        before_check(connection, describe(alias))
    check_schema(connection, domain_tables(), described_as=describe(alias))
    return connection


@contextlib.contextmanager
def read_only_snapshot(connection, using: str):
    """A transaction on `using` in which every query sees the same snapshot: on PostgreSQL,
    REPEATABLE READ and read only when the block is the outermost one (an inner block
    cannot change its transaction's level). The export and the comparison read every
    table here, so that the rows they read hold together while the application writes."""
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
