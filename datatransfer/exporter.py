"""The export engine: every domain table, in dependency order, from one consistent snapshot."""

import contextlib
import time
from dataclasses import dataclass, field

from django.db import connections
from django.utils import timezone

from datatransfer.databases import open_connection, read_only_snapshot
from datatransfer.formats import get_format
from datatransfer.formats.document import FORMAT_NAME, FORMAT_VERSION
from datatransfer.formats.rows import encode_row, encode_value, format_datetime
from datatransfer.locking import LockWaits, checked_lock_timeout
from datatransfer.manifest import schema_fingerprint, schema_of
from datatransfer.masks import Anonymizer
from datatransfer.registry import domain_tables, excluded_keys
from datatransfer.reports import ExportReport
from datatransfer.routers import domain_database
from datatransfer.schemarecord import RECORD, database_schema
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


def _spelled_rows(table, server_rows, scope):
    """Yield (file's dict, whether a reference) for each row, spelled by the server."""
    references = scope.references(table) if hasattr(scope, "references") else ()
    references = {encode_value(table.pk.field, pk) for pk in references}
    # Closed with this generator: its COPY holds the connection until it ends (closing).
    with contextlib.closing(server_rows) as rows:
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


def _table_rows(table, queryset, using, connection, exclude_secrets, scope, export_format):
    """The rows of one table: spelled by the database server when the format can have it
    (`export_format` None: never), else read and spelled in Python."""
    server_rows = (
        export_format.server_rows(table, queryset, connection, exclude_secrets=exclude_secrets)
        if export_format
        else None
    )
    if server_rows is not None:
        return _spelled_rows(table, server_rows, scope)
    return _python_rows(table, queryset, using, exclude_secrets, scope)


def rows_as_exported(table, queryset, using: str):
    """The file's dict of each row of `queryset`, secrets included, exactly as an export in
    the default format spells it: by the server when it can (PostgreSQL), else in Python.
    A generator, to be closed (the server's COPY holds the connection until it ends)."""
    rows = _table_rows(table, queryset, using, connections[using], False, None, get_format())
    with contextlib.closing(rows):
        for row, _ in rows:
            yield row


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
    export_format: str | None = None,
    anonymize_key: str = "",
) -> ExportReport:
    """Write the domain's tables to the text `stream`; return an ExportReport.

    All tables are read in one transaction (REPEATABLE READ, read only, on PostgreSQL),
    so the file's references hold together while the application writes. `scope(table,
    queryset)` may narrow each table's queryset (a subset export: subset.OrganizationScope,
    which may also tell the rows written only as references, and add to the metadata).
    Every table's key is written, in order: a table left out (`exclude`d or by `scope`) is
    an empty list, named in the metadata's `excludedTables`. `on_table(key, count)` may
    return a progress callback taking a number of rows written; `on_row(key, row)` sees
    each row written. The metadata is signed with `signing_key` (default: the settings';
    '' for none). The document is in `export_format` (a registered format's name; default:
    the default format), its rows spelled by the server when the format can have it
    unless `server_spelling` is false (the file is the same byte for byte). A wait for
    another session's lock ends after `lock_timeout` seconds (default:
    DATATRANSFER_LOCK_TIMEOUT; 0: no limit) with LockTimeoutError. With an
    `anonymize_key`, the personal fields are masked under that key (datatransfer/masks.py),
    the secrets no mask covers are written empty, and the metadata's `masked` says so.
    Raises DataTransferError for a bad option or an unreachable database.
    """
    using = using or domain_database()
    started = time.monotonic()
    tables = tables_to_export(exclude)
    connection = open_connection(using)
    chosen_format = get_format(export_format)
    report = ExportReport(file=file_name, database=using)
    server_format = chosen_format if server_spelling else None
    export = _Export(using, connection, report, scope, exclude_secrets, server_format)
    export.on_table, export.on_row = on_table, on_row
    export.anonymizer = Anonymizer(anonymize_key) if anonymize_key else None
    writer = chosen_format.writer(stream, indent=indent)
    waits = LockWaits(
        using, checked_lock_timeout(lock_timeout), "the export was stopped, nothing was written"
    )
    # The writer closed on any error: its temporary file of rows goes at once.
    with contextlib.closing(writer), waits, read_only_snapshot(connection, using):
        waits.limit(connection)
        export.write(writer, tables, waits, signing_key)
    export.report.duration = time.monotonic() - started
    return export.report


@dataclass
class _Export:
    """One export's state inside its transaction: the querysets to write, their counts,
    and the report filled as the tables are written."""

    using: str
    connection: object
    report: ExportReport
    scope: object
    exclude_secrets: bool
    server_format: object
    on_table: object = None
    on_row: object = None
    anonymizer: Anonymizer | None = None
    querysets: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    def write(self, writer, tables, waits, signing_key) -> None:
        """Count, write every table, then the metadata (signed with `signing_key`, or with
        the settings' key when it is None)."""
        tables = self.count(tables, waits)
        now = format_datetime(timezone.now())
        self.write_tables(writer, waits)
        writer.finish(
            self.metadata(tables, now),
            signing_key=settings_signing_key() if signing_key is None else signing_key,
        )

    def count(self, tables, waits) -> list:
        """Narrow each table to the scope and count its rows; return the tables written."""
        for table in tables:
            queryset = table.model._base_manager.using(self.using).all()
            queryset = self.scope(table, queryset) if self.scope else queryset
            if queryset is not None:
                self.querysets[table.key] = queryset
        tables = [t for t in tables if t.key in self.querysets]
        self.report.excluded = [t.key for t in domain_tables() if t.key not in self.querysets]
        for table in tables:
            waits.doing = f"reading {table.key}"
            self.counts[table.key] = self.querysets[table.key].count()
        return tables

    def write_tables(self, writer, waits) -> None:
        """Every key, as the old tool writes it (its importer needs them all): a table left
        out is an empty list, named in `excludedTables`."""
        for table in domain_tables():
            writer.begin_table(table.key)
            if table.key in self.querysets:
                waits.doing = f"reading {table.key}"
                self.write_table(writer, table)
            writer.end_table()

    def write_table(self, writer, table) -> None:
        key = table.key
        on_rows = self.on_table(key, self.counts[key]) if self.on_table else None
        rows = _table_rows(
            table,
            self.querysets[key],
            self.using,
            self.connection,
            self.exclude_secrets,
            self.scope,
            self.server_format,
        )
        if self.anonymizer:
            rows = self.anonymizer.rows(table, rows)
        self.report.tables[key], referenced = _write_rows(writer, table, rows, on_rows, self.on_row)
        if referenced:
            self.report.references[key] = referenced

    def metadata(self, tables, now: str) -> dict:
        """The document's metadata (the writer adds the manifest's tables)."""
        connection, scope = self.connection, self.scope
        schema = schema_of(tables)
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "timestamp": now,
            "exportedAt": now,
            "source": {
                "vendor": connection.vendor,
                "name": str(connection.settings_dict["NAME"]),
            },
            "secretsExcluded": self.exclude_secrets,
            "excludedTables": sorted(self.report.excluded),
            "tables": dict(self.report.tables),
            "manifest": {
                "schema": schema,
                "schemaFingerprint": schema_fingerprint(schema),
                RECORD: database_schema(connection, domain_tables()),
            },
            **(scope.metadata() if hasattr(scope, "metadata") else {}),
            **({"masked": self.anonymizer.metadata(tables)} if self.anonymizer else {}),
        }
