"""The export engine: every domain table, in dependency order, from one consistent snapshot."""

import contextlib
import time

from django.db import transaction
from django.utils import timezone

from datatransfer.databases import open_connection
from datatransfer.fileformat import FORMAT_NAME, FORMAT_VERSION
from datatransfer.fileformat.codec import encode_row, encode_value, format_datetime
from datatransfer.fileformat.writer import ExportWriter
from datatransfer.locking import LockWaits, checked_lock_timeout
from datatransfer.manifest import schema_fingerprint, schema_of
from datatransfer.registry import domain_tables, excluded_keys
from datatransfer.reports import ExportReport
from datatransfer.routers import domain_database
from datatransfer.schemarecord import RECORD, database_schema
from datatransfer.server_rows import server_rows, table_sql
from datatransfer.signing import signing_key as settings_signing_key

CHUNK_SIZE = 2000


def tables_to_export(exclude=()) -> list:
    """The TableSpecs to write, in order, less the `exclude`d file keys.

    Raises DataTransferError for an excluded name that is not a table.
    """
    exclude = excluded_keys(exclude)
    return [t for t in domain_tables() if t.key not in exclude]


def _rows(table, queryset, using):
    """Yield (values dict, many-to-many dict) for each row of `queryset`, reading in chunks."""
    attnames = [spec.attname for spec in table.fields]
    queryset = queryset.order_by(*table.ordering()).values(*attnames)
    chunk = []
    for values in queryset.iterator(chunk_size=CHUNK_SIZE):
        chunk.append(values)
        if len(chunk) == CHUNK_SIZE:
            yield from _with_many_to_many(table, chunk, using)
            chunk = []
    yield from _with_many_to_many(table, chunk, using)


def _with_many_to_many(table, chunk, using):
    if not table.many_to_many:
        for values in chunk:
            yield values, None
        return
    pk_name = table.pk.attname
    ids = [values[pk_name] for values in chunk]
    links = {spec.key: spec.linked(ids, using, keys=True) for spec in table.many_to_many}
    for values in chunk:
        pk = values[pk_name]
        yield values, {key: by_owner.get(pk, []) for key, by_owner in links.items()}


def _python_rows(table, queryset, using, exclude_secrets, scope):
    """Yield (file's dict, whether a reference) for each row, read and spelled in Python."""
    references = scope.references(table) if hasattr(scope, "references") else ()
    pk_name = table.pk.attname
    for values, many_to_many in _rows(table, queryset, using):
        reference = values[pk_name] in references
        if reference:
            values, many_to_many = scope.as_reference(table, values, many_to_many)
        row = encode_row(table, values, many_to_many, exclude_secrets=exclude_secrets or reference)
        yield row, reference


def _spelled_rows(table, queryset, row_sql, connection, scope):
    """Yield (file's dict, whether a reference) for each row, spelled by the server."""
    references = scope.references(table) if hasattr(scope, "references") else ()
    references = {encode_value(table.pk.field, pk) for pk in references}
    # Closed with this generator: its COPY holds the connection until it ends (closing).
    with contextlib.closing(server_rows(table, queryset, row_sql, connection)) as rows:
        yield from _marked_references(table, rows, references, scope)


def _marked_references(table, rows, references, scope):
    """Yield (file's dict, whether a reference) for each of the server's `rows`."""
    if not references:
        for row in rows:
            yield row, False
        return
    pk_key = table.pk.key
    for row in rows:
        reference = row[pk_key] in references
        if reference:
            # A link is written as the model holds it (the codec spells it as it is),
            # and as_reference only changes links: it can take the file's values.
            values = {spec.attname: row[spec.key] for spec in table.fields}
            values, many_to_many = scope.as_reference(
                table, values, {spec.key: row[spec.key] for spec in table.many_to_many}
            )
            row = {spec.key: values[spec.attname] for spec in table.fields}
            row.update(dict.fromkeys(table.secret_keys, ""))
            for spec in table.many_to_many:
                row[spec.key] = list(many_to_many.get(spec.key, ()))
        yield row, reference


def _table_rows(table, queryset, using, connection, exclude_secrets, scope, server_spelling):
    """The rows of one table: spelled by PostgreSQL when it can (server_rows.py), else
    read and spelled in Python."""
    if server_spelling and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            row_sql = table_sql(table, cursor.cursor, exclude_secrets=exclude_secrets)
        if row_sql is not None:
            return _spelled_rows(table, queryset, row_sql, connection, scope)
    return _python_rows(table, queryset, using, exclude_secrets, scope)


def _write_rows(writer, table, rows, on_rows, on_row) -> tuple:
    """Write `rows` ((file's dict, whether a reference) pairs); return how many, and how
    many as references.

    `rows` is closed whatever happens: a write that fails (a full disk, a closed pipe, a
    Ctrl-C) must not leave the server's COPY suspended (server_rows), holding the
    connection that the transaction's rollback then waits for without end."""
    written = referenced = 0
    with contextlib.closing(rows):
        for row, reference in rows:
            referenced += reference
            writer.write_row(row)
            if on_row:
                on_row(table.key, row)
            written += 1
            if on_rows and written % CHUNK_SIZE == 0:
                on_rows(CHUNK_SIZE)
    return written, referenced


def export_domain(
    stream,
    *,
    using=None,
    exclude=(),
    exclude_secrets=False,
    indent=2,
    file_name="",
    scope=None,
    on_table=None,
    on_row=None,
    signing_key: str | None = None,
    server_spelling: bool = True,
    lock_timeout: float | None = None,
) -> ExportReport:
    """Write the domain's tables to the text `stream`; return an ExportReport.

    All tables are read in one transaction (REPEATABLE READ, read only, on PostgreSQL),
    so the file's references hold together while the application writes.
    `scope(table, queryset)` may narrow each table's queryset (a subset export); it
    returns the queryset to write, or None to leave the table out; it may also tell the
    rows written only as references (`references(table)`, written `as_reference(table,
    values, many_to_many)` and without secrets) and add to the file's `metadata()`
    (subset.OrganizationScope). Every table's key is
    written, in order: a table left out (`exclude`d or by `scope`) is an empty list, named
    in the metadata's `excludedTables`.
    `on_table(key, count)` is called before each table and may return a callback taking
    a number of rows written (for progress); `on_row(key, row)` is called with each row
    as written (a dict of the file's fields). With a signing key (settings), the metadata
    is signed (signing.py);
    `signing_key` replaces the settings' key ('' for none). On PostgreSQL the rows are
    spelled by the server (server_rows.py) unless `server_spelling` is false; the file
    is the same byte for byte. On PostgreSQL, a wait for another session's lock ends
    after `lock_timeout` seconds (default: the setting, DATATRANSFER_LOCK_TIMEOUT; 0: no
    limit) with LockTimeoutError.
    Raises DataTransferError for a bad option or an unreachable database.
    """
    using = using or domain_database()
    started = time.monotonic()
    tables = tables_to_export(exclude)
    connection = open_connection(using)
    report = ExportReport(file=file_name, database=using)
    writer = ExportWriter(stream, indent=indent)
    waits = LockWaits(
        using, checked_lock_timeout(lock_timeout), "the export was stopped, nothing was written"
    )
    outermost = not connection.in_atomic_block
    # The writer closed on any error: its temporary file of rows goes at once.
    with contextlib.closing(writer), waits, transaction.atomic(using=using):
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        waits.limit(connection)
        querysets = {}
        for table in tables:
            queryset = table.model._base_manager.using(using).all()
            queryset = scope(table, queryset) if scope else queryset
            if queryset is not None:
                querysets[table.key] = queryset
        tables = [t for t in tables if t.key in querysets]
        report.excluded = [t.key for t in domain_tables() if t.key not in querysets]
        counts = {}
        for table in tables:
            waits.doing = f"reading {table.key}"
            counts[table.key] = querysets[table.key].count()
        now = format_datetime(timezone.now())
        for table in domain_tables():
            # Every key, as the old tool writes it (its importer needs them all): a table
            # left out is an empty list, named in `excludedTables`.
            writer.begin_table(table.key)
            if table.key in querysets:
                waits.doing = f"reading {table.key}"
                on_rows = on_table(table.key, counts[table.key]) if on_table else None
                rows = _table_rows(
                    table,
                    querysets[table.key],
                    using,
                    connection,
                    exclude_secrets,
                    scope,
                    server_spelling,
                )
                report.tables[table.key], referenced = _write_rows(
                    writer, table, rows, on_rows, on_row
                )
                if referenced:
                    report.references[table.key] = referenced
            writer.end_table()
        schema = schema_of(tables)
        writer.finish(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "timestamp": now,
                "exportedAt": now,
                "source": {
                    "vendor": connection.vendor,
                    "name": str(connection.settings_dict["NAME"]),
                },
                "secretsExcluded": exclude_secrets,
                "excludedTables": sorted(report.excluded),
                "tables": dict(report.tables),
                "manifest": {
                    "schema": schema,
                    "schemaFingerprint": schema_fingerprint(schema),
                    RECORD: database_schema(connection, domain_tables()),
                },
                **(scope.metadata() if hasattr(scope, "metadata") else {}),
            },
            signing_key=settings_signing_key() if signing_key is None else signing_key,
        )
    report.duration = time.monotonic() - started
    return report
