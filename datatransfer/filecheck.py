"""The check of a whole export file (signature, ids, unknown names, manifest): a pass of
its own before anything is written (scan_file: verifydomain, and an import that matches
natural keys, whose keys it collects at the same time), or within the import's one read,
its verdict before the commit (CheckWhileLoading).

Each table is reported to `on_table(key, rows, phase=..., number=..., tables=...)`, which
returns a callback taking a number of rows done (progress), or None.
"""

import pickle
import tempfile
from dataclasses import dataclass, field
from functools import cached_property

from datatransfer.exceptions import (
    Code,
    FileFormatError,
    SignatureError,
    UnknownTableError,
    VerificationError,
    escaped,
    quoted,
)
from datatransfer.formats import open_reader
from datatransfer.formats.document import (
    UNVERIFIABLE_MAJOR_VERSIONS,
    excluded_table_keys,
    partial_of,
    reference_ids,
)
from datatransfer.formats.rows import value_decoder
from datatransfer.manifest import TableDigest, check_digests, schema_of
from datatransfer.reports import Note
from datatransfer.signing import check_signature

# How many rows a progress callback is told about at once.
PROGRESS_STEP = 1000


class TableScheduler:
    """Feeds `load` each table once the tables it depends on are in.

    Files list tables in dependency order (both tools do), so tables go straight
    through; a table that comes before one it needs is spooled to a temporary file
    (one pickle per row, not memory) and loaded once that table is in.
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
                pickle.dump(row, spool, pickle.HIGHEST_PROTOCOL)
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
                self.load(table, _unpickled(spool))
            self.seen.add(key)

    def finish(self) -> None:
        """Load what is still spooled (its missing dependencies are not in the file)."""
        self._release(finishing=True)


def _unpickled(spool):
    """The rows a TableScheduler spooled, in order."""
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


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


def ids_error(path, problems) -> FileFormatError:
    return FileFormatError(
        f"{path}: each row needs an id of its own: {'; '.join(problems)}; nothing was written."
    )


def unique_ids(path, table, rows):
    """The rows, raising FileFormatError at the end of the table when an id repeats or is
    empty (for a load that was not checked first: the transaction is rolled back)."""
    ids = TableIds(table)
    for raw in rows:
        ids.add(raw)
        yield raw
    if problems := ids.problems():
        raise ids_error(path, problems)


def unknown_fields(table, raw) -> list[str]:
    return sorted(set(raw) - table.field_keys())


def unknown_error(path, problems) -> UnknownTableError:
    """The refusal of tables or fields the models lack (the caller may skip them)."""
    return UnknownTableError(f"Unknown {', '.join(problems)} in {path}.")


def checked_rows(path, table, rows, ignore_unknown):
    """The rows, refusing (or, with ignore_unknown, dropping) fields the model lacks."""
    known = table.field_keys()
    for raw in rows:
        if not known.issuperset(raw):
            if not ignore_unknown:
                names = unknown_fields(table, raw)
                raise unknown_error(path, [f"field {quoted(f'{table.key}.{n}')}" for n in names])
            raw = {name: value for name, value in raw.items() if name in known}
        yield raw


def expected_tables(metadata: dict, tables) -> list[str]:
    """The table keys the file's metadata lists (`tables`), else every model's."""
    listed = metadata.get("tables")
    return list(listed) if isinstance(listed, dict) else [t.key for t in tables]


def expected_rows(metadata: dict, key: str) -> int | None:
    """How many rows the metadata says table `key` holds, or None."""
    listed = metadata.get("tables")
    count = listed.get(key) if isinstance(listed, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def counted(rows, advance):
    """The rows, telling `advance` (or nobody) how many went by, PROGRESS_STEP at a time."""
    if advance is None:
        yield from rows
        return
    number = 0
    for number, raw in enumerate(rows, start=1):
        yield raw
        if number % PROGRESS_STEP == 0:
            advance(PROGRESS_STEP)
    advance(number % PROGRESS_STEP)


@dataclass
class _Check:
    """What the check learns of the file as its rows go by."""

    by_key: dict
    digests: dict = field(default_factory=dict)
    unknown: dict = field(default_factory=dict)  # phrase -> None, in file order
    id_problems: list = field(default_factory=list)

    def rows(self, key, rows):
        """The rows of table `key`, noted (digest, ids, unknown fields) as they go by."""
        digest = self.digests[key] = TableDigest()
        table = self.by_key.get(key)
        if table is None:
            self.unknown[f"table {quoted(key)}"] = None
        known = table.field_keys() if table else None
        ids = TableIds(table) if table else None
        for raw in rows:
            digest.add(raw)
            if ids is not None:
                ids.add(raw)
            if known is not None and not known.issuperset(raw):
                self.unknown.update(
                    (f"field {quoted(f'{key}.{name}')}", None)
                    for name in unknown_fields(table, raw)
                )
            yield raw
        self.id_problems += ids.problems() if ids else []

    def verdict(self, reader, ignore_unknown) -> list[str]:
        """Refuse the file (FileFormatError) for unknown names (unless `ignore_unknown`),
        bad ids, or rows that do not match the manifest; return the notes."""
        path, manifest = reader.path, reader.metadata.get("manifest")
        if self.unknown and not ignore_unknown:
            raise unknown_error(path, list(self.unknown))
        if self.id_problems:
            raise ids_error(path, self.id_problems)
        if manifest is None and reader.major_version in UNVERIFIABLE_MAJOR_VERSIONS:
            return ["Format 1.0 file (the Node.js tool): it carries no checksums to verify."]
        if manifest is None:
            raise VerificationError(
                f"{path} has format version {escaped(reader.version)} but no manifest: its rows "
                "cannot be verified; nothing was written."
            )
        if not isinstance(manifest, dict):
            raise VerificationError(f"{path}: its manifest is damaged; nothing was written.")
        check_digests(path, manifest, {key: d.as_dict() for key, d in self.digests.items()})
        schema = manifest.get("schema")
        return _schema_notes(schema, self.by_key) if isinstance(schema, dict) else []


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


class FileHead:
    """What the file's metadata says, read once per import and handed forward to the
    check, the match and the load: the tables it lists, those left out of the export,
    the tables not read (those and the `exclude`d ones) and the ids of rows it carries
    only as references. Each is worked out when first asked (FileFormatError when the
    metadata holds it malformed), so that a file is refused where it was before."""

    def __init__(self, path: str, metadata: dict, tables, exclude=frozenset()):
        self.path, self.metadata = path, metadata
        self.tables = list(tables)
        self.by_key = {t.key: t for t in self.tables}
        self.exclude = frozenset(exclude)

    @cached_property
    def listed(self) -> list[str]:
        """The table keys the metadata lists, else every model's."""
        return expected_tables(self.metadata, self.tables)

    @cached_property
    def left_out(self) -> set[str]:
        """The tables left out of the export (and not excluded here): not read."""
        return excluded_table_keys(self.path, self.metadata) - self.exclude

    @cached_property
    def skipped(self) -> frozenset[str]:
        """Every table whose rows are not read: excluded here, or left out of the export."""
        return self.exclude | self.left_out

    @cached_property
    def references(self) -> dict:
        """{table key: ids} of the rows carried only as references (subset exports)."""
        return reference_ids(self.path, self.metadata, self.by_key)

    @cached_property
    def partial(self) -> dict | None:
        """For a file of the changes since a time, {"since": ..., "until": ...}: the rows
        it lacks are not missing, only unchanged (or older); None for a whole export or a
        subset. What must not take the file's absent rows as gone (a comparison's extra
        rows, a deletion of the rows a file lacks) asks this."""
        return partial_of(self.path, self.metadata)

    def expected_rows(self, key: str) -> int | None:
        return expected_rows(self.metadata, key)


def read_head(source, tables, exclude=frozenset()) -> FileHead:
    """The FileHead of `source` (an ExportSource): its metadata, read once."""
    with open_reader(source, any_version=True) as reader:
        return FileHead(reader.path, reader.metadata, tables, exclude)


def scan_file(
    source,
    head: FileHead,
    *,
    verify: bool,
    ignore_unknown: bool = False,
    signing_key: str = "",
    matcher=None,
    on_table=None,
) -> list:
    """Read the whole file (an ExportSource) once, writing nothing; return the notes.

    With `verify`: refuse it (FileFormatError) when `signing_key` is set and the file is
    not signed with it (first, from its head), when an id repeats in a table or is empty,
    when a table does not match its manifest, or when it names tables or fields the models
    lack (all of them in one message) unless `ignore_unknown`. With a `matcher`
    (matching.NaturalKeyMatcher), give it the rows of the tables it matches (not skipped
    by the `head`), in dependency order.

    With a signing key set, a file that fails its check against its manifest is refused
    with SignatureError, not VerificationError: its signature vouches for the manifest,
    so rows that do not match it were altered after signing, and nothing may lift that.
    """
    try:
        with open_reader(source, any_version=not verify) as reader:
            scan = _Scan(head, verify=verify, matcher=matcher, on_table=on_table)
            return scan.run(reader, ignore_unknown, signing_key)
    except VerificationError as error:
        if not (verify and signing_key):
            raise
        raise SignatureError(str(error)) from None


@dataclass
class _Scan:
    """One pass over the file: the check (with `verify`) and the match (with a matcher)."""

    head: FileHead
    verify: bool
    matcher: object
    on_table: object

    def run(self, reader, ignore_unknown: bool, signing_key: str) -> list:
        head, verify = self.head, self.verify
        notes = check_signature(reader.path, reader.metadata, signing_key) if verify else []
        check = _Check(head.by_key)
        wanted, scheduler = {}, None
        if self.matcher is not None:
            matches, skipped = self.matcher.matches, head.skipped
            wanted = {t.key: t for t in head.tables if matches(t) and t.key not in skipped}
            scheduler = TableScheduler(
                self.matcher.scan_table,
                list(wanted.values()),
                expected_keys=[key for key in head.listed if key in wanted],
            )
        # How many tables the pass reads: those the metadata lists (else the models'), or
        # for a match alone the tables with a natural key.
        count = len(head.listed) if verify else len(wanted)
        number = 0
        for key, rows in reader.tables():
            if not verify and key not in wanted:
                continue
            number += 1
            rows = counted(
                check.rows(key, rows) if verify else rows, self.advance(key, number, count)
            )
            if key in wanted:
                scheduler.offer(wanted[key], rows)
            else:
                for _ in rows:
                    pass
        if verify:
            notes += check.verdict(reader, ignore_unknown)
        if scheduler is not None:
            scheduler.finish()
        return notes

    def advance(self, key: str, number: int, count: int):
        """The progress callback of table `key`, or None."""
        if not self.on_table:
            return None
        return self.on_table(
            key,
            self.head.expected_rows(key),
            phase="check" if self.verify else "match",
            number=number,
            tables=max(count, number),
        )


class CheckWhileLoading:
    """The check of a file read once, by the load itself: each table's rows go through
    `rows` on their way to the writer (or are drained through it: a table not loaded
    counts in the manifest too), and `verdict`, before the commit, refuses the file as
    scan_file would (the same errors, the same message), or returns its notes. The
    signature, in the file's head, is checked before (`notes`)."""

    def __init__(self, head: FileHead, *, ignore_unknown: bool, signing_key: str):
        self.head, self.ignore_unknown, self.signing_key = head, ignore_unknown, signing_key
        self.check = _Check(head.by_key)
        self.notes = check_signature(head.path, head.metadata, signing_key)

    def rows(self, key: str, rows):
        return self.check.rows(key, rows)

    @staticmethod
    def drain(rows) -> None:
        """Read the rows `rows` (given by `rows()`) to their end, for the check only."""
        for _ in rows:
            pass

    def verdict(self, reader) -> list:
        try:
            return self.check.verdict(reader, self.ignore_unknown)
        except VerificationError as error:
            if not self.signing_key or isinstance(error, SignatureError):
                raise
            raise SignatureError(str(error)) from None


def unverified_note() -> Note:
    return Note(
        "Not verified: the manifest and the schema were not checked before writing.",
        Code.UNVERIFIED,
    )
