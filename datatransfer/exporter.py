"""The export engine: every domain table, in dependency order, from one consistent snapshot."""

import contextlib
import time
from dataclasses import dataclass

from django.utils import timezone

from datatransfer.databases import open_connection, read_only_snapshot
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
    run = _ExportRun(
        writer=ExportWriter(stream, indent=indent),
        report=ExportReport(file=file_name, database=using),
        waits=LockWaits(
            using, checked_lock_timeout(lock_timeout), "the export was stopped, nothing was written"
        ),
        using=using,
        connection=connection,
        scope=scope,
        exclude_secrets=exclude_secrets,
        server_spelling=server_spelling,
        on_table=on_table,
        on_row=on_row,
    )
    run.write(tables, signing_key)
    run.report.duration = time.monotonic() - started
    return run.report


@dataclass
class _ExportRun:
    """What every step of one export shares: export_domain's options, its writer, its
    report (filled as the steps go) and its lock waits (told what each step reads, for the
    message of a wait that runs out of time)."""

    writer: ExportWriter
    report: ExportReport
    waits: LockWaits
    using: str
    connection: object
    scope: object
    exclude_secrets: bool
    server_spelling: bool
    on_table: object
    on_row: object

    def write(self, tables, signing_key) -> None:
        """Write the file from one snapshot: `tables` less those the scope leaves out, then
        the metadata, signed with `signing_key` (None: the settings' key)."""
        # The writer closed on any error: its temporary file of rows goes at once.
        with (
            contextlib.closing(self.writer),
            self.waits,
            read_only_snapshot(self.connection, self.using),
        ):
            self.waits.limit(self.connection)
            querysets = self.scoped_querysets(tables)
            tables = [t for t in tables if t.key in querysets]
            counts = self.counts(tables, querysets)
            now = format_datetime(timezone.now())
            self.write_tables(querysets, counts)
            self.writer.finish(
                self.metadata(tables, now),
                signing_key=settings_signing_key() if signing_key is None else signing_key,
            )

    def scoped_querysets(self, tables) -> dict:
        """Each table's queryset by key, narrowed by the scope; a table the scope leaves out
        has none, and is named in the report's `excluded` (as is every table not in
        `tables`), so that the file says which tables it left out."""
        querysets = {}
        for table in tables:
            queryset = table.model._base_manager.using(self.using).all()
            queryset = self.scope(table, queryset) if self.scope else queryset
            if queryset is not None:
                querysets[table.key] = queryset
        self.report.excluded = [t.key for t in domain_tables() if t.key not in querysets]
        return querysets

    def counts(self, tables, querysets) -> dict:
        """The rows of each table, counted before any is written: the metadata's counts and
        the progress bars' totals come from the same snapshot as the rows."""
        counts = {}
        for table in tables:
            self.waits.doing = f"reading {table.key}"
            counts[table.key] = querysets[table.key].count()
        return counts

    def write_tables(self, querysets, counts) -> None:
        """Write every domain table's key, in order, as the old tool writes it (its importer
        needs them all): a table left out is an empty list, named in `excludedTables`."""
        for table in domain_tables():
            self.writer.begin_table(table.key)
            if table.key in querysets:
                self.waits.doing = f"reading {table.key}"
                self._write_table(table, querysets[table.key], counts[table.key])
            self.writer.end_table()

    def _write_table(self, table, queryset, count) -> None:
        """Write one table's rows and record in the report how many, and how many of them
        only as references."""
        on_rows = self.on_table(table.key, count) if self.on_table else None
        rows = _table_rows(
            table,
            queryset,
            self.using,
            self.connection,
            self.exclude_secrets,
            self.scope,
            self.server_spelling,
        )
        self.report.tables[table.key], referenced = _write_rows(
            self.writer, table, rows, on_rows, self.on_row
        )
        if referenced:
            self.report.references[table.key] = referenced

    def metadata(self, tables, now: str) -> dict:
        """The file's metadata: its format, where and when it was read, the counts, and the
        manifest that the import checks the file against (the `tables` written, the schema
        they were read from)."""
        schema = schema_of(tables)
        scope_metadata = self.scope.metadata() if hasattr(self.scope, "metadata") else {}
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "timestamp": now,
            "exportedAt": now,
            "source": {
                "vendor": self.connection.vendor,
                "name": str(self.connection.settings_dict["NAME"]),
            },
            "secretsExcluded": self.exclude_secrets,
            "excludedTables": sorted(self.report.excluded),
            "tables": dict(self.report.tables),
            "manifest": {
                "schema": schema,
                "schemaFingerprint": schema_fingerprint(schema),
                RECORD: database_schema(self.connection, domain_tables()),
            },
            **scope_metadata,
        }
