"""The import: upsert a file's rows by primary key, table by table, in one transaction.

Each row ends created, updated, unchanged (no write at all), skipped (a unique key held
by another row, or a dependency on a skipped row) or failed (a value or reference that
does not fit); see engines.py. A dry run is the same import, rolled back at the end.
"""

import tempfile
import time

from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, transaction

from datatransfer.databases import open_connection
from datatransfer.engines import ENGINES, first_line
from datatransfer.exceptions import (
    DataTransferError,
    FileFormatError,
    LockTimeoutError,
    UnknownTableError,
    VerificationError,
    escaped,
    quoted,
)
from datatransfer.fileformat import FORMAT_VERSION, UNVERIFIABLE_MAJOR_VERSIONS
from datatransfer.fileformat.codec import dumps_json, loads_json, value_decoder
from datatransfer.fileformat.readers import (
    ExportSource,
    LayoutMismatch,
    excluded_table_keys,
    open_export,
    reference_ids,
)
from datatransfer.locking import (
    import_lock,
    is_lock_timeout,
    limit_lock_waits,
    lock_timeout_setting,
)
from datatransfer.manifest import TableDigest, check_digests, schema_of
from datatransfer.matching import NaturalKeyMatcher, matchable
from datatransfer.registry import domain_tables
from datatransfer.reports import ImportReport
from datatransfer.routers import domain_database
from datatransfer.signing import check_signature, signing_key


def _unknown_fields(table, raw) -> list[str]:
    return sorted(set(raw) - table.field_keys())


class TableScheduler:
    """Feeds the engine each table once the tables it depends on are in.

    Files list tables in dependency order (both tools do), so tables go straight
    through; a table that comes before one it needs is spooled to a temporary file
    (one JSON line per row, not memory) and loaded once that table is in.
    """

    def __init__(self, load, tables, *, expected_keys):
        self.load = load
        self.order = {t.key: i for i, t in enumerate(tables)}
        self.expected = set(expected_keys)
        self.seen = set()
        self.spooled = {}  # key -> (table, temporary file)

    def _ready(self, table) -> bool:
        return all(dep in self.seen or dep not in self.expected for dep in table.dependencies)

    def offer(self, table, rows) -> None:
        self.expected.add(table.key)
        if self._ready(table):
            self.load(table, rows)
            self.seen.add(table.key)
            self._release()
        else:
            spool = tempfile.TemporaryFile()
            for row in rows:
                spool.write(dumps_json(row) + b"\n")
            self.spooled[table.key] = (table, spool)

    def _release(self, *, finishing=False) -> None:
        while True:
            ready = [
                key for key, (table, _) in self.spooled.items() if finishing or self._ready(table)
            ]
            if not ready:
                return
            key = min(ready, key=self.order.__getitem__)
            table, spool = self.spooled.pop(key)
            with spool:
                spool.seek(0)
                self.load(table, (loads_json(line) for line in spool))
            self.seen.add(key)

    def finish(self) -> None:
        """Load what is still spooled (its missing dependencies are not in the file)."""
        self._release(finishing=True)


def _reset_sequences(connection, model_list):
    """After explicit integer keys, move sequences past them (as loaddata does). Never in
    a dry run: a sequence moved by setval stays moved through a rollback."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def import_domain(
    path,
    *,
    using=None,
    dry_run=False,
    strict=False,
    exclude=(),
    ignore_unknown=False,
    engine="batch",
    batch_size=None,
    wait=False,
    verify=True,
    match="id",
    lock_timeout=None,
    on_table=None,
) -> ImportReport:
    """Upsert the file at `path` into the database `using`; return an ImportReport.

    Everything happens in one transaction, committed at the end, or rolled back for a
    dry run. `engine` is "batch" (default) or "rows" (the per-row reference); both give
    the same outcome for every row. Unless `verify` is false, the whole file is read
    once before anything is written: its manifest must match its rows, and every table
    and field it names must exist (all of them listed at once), and no id may repeat in a
    table or be empty. With a signing key set (settings), the file must carry a valid
    signature, `verify` or not (signing.py). The file is opened once, and every read of
    it reads the same bytes (fileformat.readers.ExportSource). `match` is "id" (default: rows are
    the target's rows with the same id) or "natural": a row whose id is not in the target
    but whose natural key is updates that row, and links to it follow (matching.py; the
    file is read once more, first).
    On PostgreSQL, a wait for a lock another session holds gives up after `lock_timeout`
    seconds (default: settings.DATATRANSFER_LOCK_TIMEOUT, 30; 0: no limit) and the import
    is rolled back (LockTimeoutError).
    `on_table(key, expected_rows)` is called before each
    table and returns a callback taking a number of rows done (for progress), or None.
    Raises DataTransferError (nothing written) for a bad file (VerificationError for
    what `verify` false lifts, SignatureError, FileChangedError), an unknown table or
    field, an unreachable database, another import running into the same PostgreSQL
    database (unless `wait`), a lock held too long by another session, or a failed row
    under `strict`.
    """
    using = using or domain_database()
    if lock_timeout is None:
        lock_timeout = lock_timeout_setting()
        if not 0 <= lock_timeout < float("inf"):
            raise DataTransferError(
                f"DATATRANSFER_LOCK_TIMEOUT is {lock_timeout}: it must be 0 or more seconds."
            )
    options = dict(
        using=using,
        dry_run=dry_run,
        strict=strict,
        exclude=exclude,
        ignore_unknown=ignore_unknown,
        engine=engine,
        batch_size=batch_size,
        wait=wait,
        verify=verify,
        match=match,
        lock_timeout=lock_timeout,
        on_table=on_table,
    )
    if match not in ("id", "natural"):
        raise DataTransferError(f"Unknown match '{match}' (use id or natural).")
    # Opened once: the check, the natural-key scan and the load read the same bytes.
    with ExportSource(path) as source:
        try:
            return _import(source, fast_layout=True, **options)
        except LayoutMismatch:
            # Rolled back: start over with the reader that takes any JSON layout.
            return _import(source, fast_layout=False, **options)


class TableIds:
    """The ids of one table's rows, to refuse a table where an id repeats (it would be
    loaded last-wins and counted twice) or is empty (it would make a row). Keeps the
    table's ids in memory while it is read: one table at a time."""

    SHOWN = 10

    def __init__(self, table):
        self.table = table
        self._key = table.pk.key
        self._decode = value_decoder(table.pk.field)
        self._seen = set()
        self.rows = 0
        self.repeated = {}  # id -> None, in file order
        self.empty_rows = []  # row numbers, from 1

    def add(self, raw: dict) -> None:
        self.rows += 1
        value = raw.get(self._key)
        if isinstance(value, str) and not value.strip():
            self.empty_rows.append(self.rows)
            return
        try:
            pk = self._decode(value)  # 17 and "17" are one integer key
        except (ValueError, TypeError, OverflowError):
            return  # not an id at all: the row fails on its own, with its message
        if pk in self._seen:
            self.repeated[pk] = None
        self._seen.add(pk)

    def problems(self) -> list[str]:
        """What is wrong with the table's ids, one phrase each (none when all is well)."""
        found = []
        key = quoted(self.table.key)
        if self.repeated:
            shown = ", ".join(quoted(pk) for pk in list(self.repeated)[: self.SHOWN])
            more = len(self.repeated) - self.SHOWN
            ids = "ids" if len(self.repeated) > 1 else "id"
            found.append(
                f"table {key} repeats the {ids} {shown}" + (f" and {more} more" if more > 0 else "")
            )
        if self.empty_rows:
            rows = ", ".join(str(n) for n in self.empty_rows[: self.SHOWN])
            more = len(self.empty_rows) - self.SHOWN
            found.append(
                f"table {key} has a row with an empty id (row {rows}"
                + (f" and {more} more)" if more > 0 else ")")
            )
        return found


def _ids_error(path, problems) -> FileFormatError:
    return FileFormatError(
        f"{path}: each row needs an id of its own: {'; '.join(problems)}; nothing was written."
    )


def _unique_ids(path, table, rows):
    """The rows, raising FileFormatError at the end of the table when an id repeats or is
    empty (for a load that was not checked first: the transaction is rolled back)."""
    ids = TableIds(table)
    for raw in rows:
        ids.add(raw)
        yield raw
    if problems := ids.problems():
        raise _ids_error(path, problems)


def check_file(
    source, by_key, *, fast_layout=False, ignore_unknown=False, signatures=False
) -> list[str]:
    """Read the whole file (a path or an ExportSource) without writing: refuse it
    (FileFormatError) when, with `signatures`, a signing key is set and the file is not
    signed with it (first, from its head), when an id repeats in a table or is empty, when
    a table does not match its manifest, or when it names tables or fields the models lack
    (all of them in one message) unless `ignore_unknown`. Return notes for the report."""
    notes = []
    unknown = {}
    digests = {}
    id_problems = []
    with open_export(source, fast_layout=fast_layout) as reader:
        path = reader.path
        if signatures:
            notes += check_signature(path, reader.metadata, signing_key())
        manifest = reader.metadata.get("manifest")
        for key, rows in reader.tables():
            digest = digests[key] = TableDigest()
            table = by_key.get(key)
            if table is None:
                unknown[f"table {quoted(key)}"] = None
            known = table.field_keys() if table else None
            ids = TableIds(table) if table else None
            for raw in rows:
                digest.add(raw)
                if ids is not None:
                    ids.add(raw)
                if known is not None and not known.issuperset(raw):
                    unknown.update(
                        (f"field {quoted(f'{key}.{name}')}", None)
                        for name in _unknown_fields(table, raw)
                    )
            id_problems += ids.problems() if ids else []
        if unknown and not ignore_unknown:
            raise UnknownTableError(_unknown_message(path, list(unknown)))
        if id_problems:
            raise _ids_error(path, id_problems)
        if manifest is None and reader.major_version in UNVERIFIABLE_MAJOR_VERSIONS:
            notes.append("Format 1.0 file (the Node.js tool): it carries no checksums to verify.")
        elif manifest is None:
            raise VerificationError(
                f"{path} has format version {escaped(reader.version)} but no manifest: its rows "
                "cannot be verified; nothing was written."
            )
        elif not isinstance(manifest, dict):
            raise VerificationError(f"{path}: its manifest is damaged; nothing was written.")
        else:
            check_digests(path, manifest, {key: d.as_dict() for key, d in digests.items()})
            schema = manifest.get("schema")
            if isinstance(schema, dict):
                notes += _schema_notes(schema, by_key)
    return notes


def _schema_notes(schema, by_key) -> list[str]:
    """Fields whose type differs between the file's schema and the target's."""
    differing = []
    for key, fields in schema.items():
        table = by_key.get(key)
        if table is None or not isinstance(fields, dict):
            continue
        target = schema_of([table])[key]
        differing += [
            f"{key}.{name}"
            for name, kind in fields.items()
            if name in target and target[name] != kind
        ]
    if not differing:
        return []
    return [
        f"The file was made for another schema: {', '.join(differing)} changed type since; "
        "values are checked one by one."
    ]


def match_natural_keys(
    source, tables, *, expected, exclude, fast_layout, using, batch_size
) -> NaturalKeyMatcher:
    """Read the file's tables that have a natural key (`source`: a path or an
    ExportSource), in dependency order (a key holding a link needs that link's table
    first), and return the matcher holding the id mapping."""
    matcher = NaturalKeyMatcher(using=using, batch_size=batch_size)
    wanted = [t for t in tables if matchable(t) and t.key not in exclude]
    by_key = {t.key: t for t in wanted}
    expected_keys = [k for k in expected if k in by_key]
    scheduler = TableScheduler(matcher.scan_table, wanted, expected_keys=expected_keys)
    with open_export(source, fast_layout=fast_layout, any_version=True) as reader:
        for key, rows in reader.tables():
            if key in by_key:
                scheduler.offer(by_key[key], rows)
        scheduler.finish()
    return matcher


def _import(
    source,
    *,
    fast_layout,
    using,
    dry_run,
    strict,
    exclude,
    ignore_unknown,
    engine,
    batch_size,
    wait,
    verify,
    match,
    lock_timeout,
    on_table,
):
    started = time.monotonic()
    tables = domain_tables()
    by_key = {t.key: t for t in tables}
    exclude = set(exclude)
    unknown_excluded = sorted(exclude - set(by_key))
    if unknown_excluded:
        raise DataTransferError(f"Unknown table(s) to exclude: {', '.join(unknown_excluded)}.")
    notes = (
        check_file(
            source,
            by_key,
            fast_layout=fast_layout,
            ignore_unknown=ignore_unknown,
            signatures=True,
        )
        if verify
        else [
            "Not verified (--no-verify): the manifest and the schema were not checked "
            "before writing."
        ]
    )
    with open_export(source, fast_layout=fast_layout, any_version=not verify) as reader:
        if not verify:
            notes[:0] = check_signature(reader.path, reader.metadata, signing_key())
        if not reader.version_supported:
            notes.append(
                f"The file has format version {escaped(reader.version)}, which this tool does "
                f"not read: it was read as version {FORMAT_VERSION}, unverified."
            )
        listed = reader.metadata.get("tables")
        expected = list(listed) if isinstance(listed, dict) else list(by_key)
        # Tables left out of the export are empty lists that say nothing: not loaded.
        left_out = excluded_table_keys(reader.path, reader.metadata) - exclude
        skipped_tables = exclude | left_out
        references = reference_ids(reader.path, reader.metadata, by_key)
        unknown = [key for key in expected if key not in by_key]
        if unknown and not ignore_unknown:
            raise UnknownTableError(
                _unknown_message(reader.path, [f"table {quoted(k)}" for k in unknown])
            )
        connection = open_connection(using)
        report = ImportReport(
            file=source.path,
            database=using,
            dry_run=dry_run,
            file_size=reader.size,
            notes=notes,
            match=match,
        )
        writer = ENGINES[engine](
            report,
            using=using,
            strict=strict,
            excluded=skipped_tables,
            batch_size=batch_size,
            references=references,
            dry_run=dry_run,
        )
        loaded = []
        matcher = None
        doing = ["starting"]  # what the import is at, for a lock timeout's message

        def load(table, rows):
            doing[0] = f"loading {table.key}"
            loaded.append(table)
            on_rows = (
                on_table(table.key, listed.get(table.key) if isinstance(listed, dict) else None)
                if on_table
                else None
            )
            rows = _checked_rows(reader.path, table, rows, ignore_unknown)
            if not verify:  # otherwise check_file refused repeated ids before any write
                rows = _unique_ids(reader.path, table, rows)
            writer.load_table(table, matcher.rows(table, rows) if matcher else rows, on_rows)

        scheduler = TableScheduler(
            load, tables, expected_keys=[k for k in expected if k not in skipped_tables]
        )
        try:
            with import_lock(connection, wait=wait), transaction.atomic(using=using):
                limit_lock_waits(connection, lock_timeout)
                if match == "natural":
                    doing[0] = "matching natural keys"
                    matcher = match_natural_keys(
                        source,
                        tables,
                        expected=expected,
                        exclude=skipped_tables,
                        fast_layout=fast_layout,
                        using=using,
                        batch_size=batch_size,
                    )
                    report.id_mapping = matcher.mapping
                    writer.references = matcher.translated(references)
                not_loaded = []
                for key, rows in reader.tables():
                    if key not in by_key:
                        if not ignore_unknown:
                            raise UnknownTableError(
                                _unknown_message(reader.path, [f"table {quoted(key)}"])
                            )
                        report.notes.append(
                            f"Table {quoted(key)} is not in the models: skipped (--ignore-unknown)."
                        )
                    elif key in left_out:
                        not_loaded.append(key)
                    elif key not in exclude:
                        scheduler.offer(by_key[key], rows)
                if not_loaded:
                    report.notes.append(
                        f"Left out of the export, so not loaded: {', '.join(not_loaded)}."
                    )
                scheduler.finish()
                doing[0] = "setting the links written last"
                writer.set_deferred_links()
                if writer.kept_references:
                    report.notes.append(
                        f"{writer.kept_references:,} rows in the file only as references (rows "
                        "of other organizations, or shared ones, that its rows link to) were "
                        "already in the database: left as they are, counted unchanged."
                    )
                if not dry_run:
                    # Append-only tables took their new ids from their sequences already.
                    _reset_sequences(connection, [t.model for t in loaded if not t.append_only])
                doing[0] = "checking the foreign keys"
                try:
                    connection.check_constraints(
                        table_names=[t.model._meta.db_table for t in loaded]
                    )
                except IntegrityError as error:
                    raise DataTransferError(
                        f"The import would break a foreign key ({first_line(error)}); "
                        "it was rolled back."
                    ) from None
                if dry_run:
                    transaction.set_rollback(True, using=using)
        except DatabaseError as error:
            if not is_lock_timeout(error):
                raise
            raise LockTimeoutError(
                f"Database '{using}': another session held a lock that {doing[0]} needed for "
                f"more than {lock_timeout:g} s: the import was rolled back, nothing was written."
            ) from None
    report.duration = time.monotonic() - started
    return report


def _unknown_message(path, problems) -> str:
    return f"Unknown {', '.join(problems)} in {path} (use --ignore-unknown to skip them)."


def _checked_rows(path, table, rows, ignore_unknown):
    """The rows, refusing (or, with ignore_unknown, dropping) fields the model lacks."""
    known = table.field_keys()
    for raw in rows:
        if not known.issuperset(raw):
            if not ignore_unknown:
                fields = [
                    f"field {quoted(f'{table.key}.{name}')}" for name in _unknown_fields(table, raw)
                ]
                raise UnknownTableError(_unknown_message(path, fields))
            raw = {name: value for name, value in raw.items() if name in known}
        yield raw
