"""Compare an export file with a database, without writing: rows the database lacks, rows
that differ (field by field), rows the file lacks. Values are compared once decoded, as
the importer would write them, so a file that was just loaded agrees with its database.
What a row is compared by is its table's write policy's answer (datatransfer/policies/).
Rows of append-only tables are compared by content, as the importer matches
them: their ids are each database's own, and n rows of one content in the file are n
rows in the database (a multiset: one fewer is missing, one more is extra). A policy
whose target keeps its own version of a row (`verify_compares_values` False) has the row
checked to be there, not its values.
"""

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from datatransfer.contents import ContentCounts, content_key, contents_held
from datatransfer.databases import open_connection, read_only_snapshot
from datatransfer.exceptions import quoted
from datatransfer.filecheck import checked_rows, read_head, scan_file, unknown_error
from datatransfer.formats import open_reader
from datatransfer.formats.rows import SECRET_NOT_SHOWN, RowError, decode_row, encode_value
from datatransfer.formats.source import ExportSource
from datatransfer.importer import ImportOptions
from datatransfer.locking import LockWaits
from datatransfer.matching import NaturalKeyMatcher
from datatransfer.registry import tables_by_key
from datatransfer.signing import check_signature

BATCH_SIZE = 500


def _presence(value) -> str:
    return "empty" if value in ("", None) else "set"


@dataclass
class FieldDifference:
    """One field of one row: its spelling in the file and in the database. For a secret
    (`secret`), only whether each side is empty or set: its values are never kept."""

    key: str
    file: object
    database: object
    secret: bool = False

    @classmethod
    def of_secret(cls, key: str, file_value, database_value) -> "FieldDifference":
        return cls(key, _presence(file_value), _presence(database_value), secret=True)

    def __str__(self) -> str:
        if not self.secret:
            return (
                f"{self.key} {_shown(self.file)} in the file, "
                f"{_shown(self.database)} in the database"
            )
        if self.file == self.database:
            return f"{self.key} differs {SECRET_NOT_SHOWN}"
        return (
            f"{self.key} {self.file} in the file, {self.database} in the database "
            f"{SECRET_NOT_SHOWN}"
        )

    def as_dict(self) -> dict:
        if not self.secret:
            return {"file": self.file, "database": self.database}
        if self.file == self.database:
            return {"secret": True}
        return {"secret": True, "file": self.file, "database": self.database}


@dataclass
class RowDifference:
    id: str
    fields: list

    def __str__(self) -> str:
        return "; ".join(map(str, self.fields))


@dataclass
class TableComparison:
    """What one table of the file says against the database."""

    key: str
    in_file: int = 0
    matching: int = 0
    missing: list = field(default_factory=list)  # ids in the file, not in the database
    differing: list = field(default_factory=list)  # RowDifference
    extra: list = field(default_factory=list)  # ids in the database, not in the file
    invalid: list = field(default_factory=list)  # (id, message): rows the importer would refuse
    by_content: bool = False  # an append-only table: rows matched by content, not by id

    @property
    def agrees(self) -> bool:
        return not (self.missing or self.differing or self.extra or self.invalid)

    def as_dict(self) -> dict:
        return {
            "inFile": self.in_file,
            "matching": self.matching,
            "missing": list(self.missing),
            "differing": [
                {
                    "id": d.id,
                    "fields": {f.key: f.as_dict() for f in d.fields},
                }
                for d in self.differing
            ],
            "extra": list(self.extra),
            "invalid": [{"id": row_id, "message": message} for row_id, message in self.invalid],
        }


@dataclass
class VerifyReport:
    """The comparison of every table of the file; never prints."""

    file: str
    database: str
    tables: dict = field(default_factory=dict)  # key -> TableComparison
    notes: list = field(default_factory=list)
    file_size: int = 0
    duration: float = 0.0
    id_mapping: dict = field(default_factory=dict)  # matched by natural key: {table: {file id: id}}

    @property
    def agrees(self) -> bool:
        return all(table.agrees for table in self.tables.values())

    def as_dict(self) -> dict:
        mapping = {
            key: {str(file_id): str(target_id) for file_id, target_id in ids.items()}
            for key, ids in self.id_mapping.items()
        }
        return {
            "file": self.file,
            "database": self.database,
            "agrees": self.agrees,
            "tables": {key: table.as_dict() for key, table in self.tables.items()},
            **({"idMapping": mapping} if mapping else {}),
            "notes": list(self.notes),
            "durationSeconds": round(self.duration, 3),
        }


# ---------------------------------------------------------------------------- comparing


def _same(a, b) -> bool:
    """Equal values, JSON included: numbers by decimal value (1 == 1.0, and PostgreSQL's
    jsonb gives 4.3e16 back as 43000000000000000), but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if (
        isinstance(a, float)
        and isinstance(b, int | float)
        or isinstance(b, float)
        and isinstance(a, int)
    ):
        return Decimal(repr(a)) == Decimal(repr(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _spelling(spec_field, value):
    """The value as the file spells it (so a report reads like the file)."""
    return encode_value(spec_field, value)


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class _TableVerifier:
    """Compares one table's rows in batches: one query per batch (and per many-to-many)."""

    def __init__(
        self, table, comparison, *, using, skip_empty_secrets, references=(), partial=False
    ):
        self.table = table
        self.comparison = comparison
        self.using = using
        self.skip_empty_secrets = skip_empty_secrets
        self.references = references  # rows only checked to be there (the import keeps them)
        self.partial = partial  # a file of the changes since a time: no row is extra
        self.seen = set()
        self.fields = {spec.attname: spec for spec in table.fields}
        self.contents = ContentCounts()  # an append-only table: the rows of each content

    def run(self, raw_rows) -> None:
        batch = []
        for number, raw in enumerate(raw_rows, start=1):
            self.comparison.in_file += 1
            try:
                row = decode_row(self.table, raw)
            except RowError as error:
                row_id = raw.get(self.table.pk.key)
                self.comparison.invalid.append(
                    (str(row_id if row_id is not None else f"#{number}"), str(error))
                )
                continue
            if not self.table.write_policy.matched_by_content:
                self.seen.add(row.pk)
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                self._compare(batch)
                batch = []
        self._compare(batch)
        if not self.partial:
            self._find_extra()

    def _compare(self, rows) -> None:
        if not rows:
            return
        if self.table.write_policy.matched_by_content:
            self._compare_contents(rows)
            return
        ids = [row.pk for row in rows]
        manager = self.table.model._base_manager.using(self.using)
        current = {
            values["pk"]: values for values in manager.filter(pk__in=ids).values("pk", *self.fields)
        }
        many_to_many = {
            spec.key: spec.linked(ids, self.using, keys=True) for spec in self.table.many_to_many
        }
        for row in rows:
            values = current.get(row.pk)
            if values is None:
                self.comparison.missing.append(str(row.pk))
                continue
            if row.pk in self.references or not self.table.write_policy.verify_compares_values:
                self.comparison.matching += 1  # there, as the import leaves it
                continue
            differences = [
                self._difference(name, value, values[name])
                for name, value in row.values.items()
                if not self._secret_left_empty(name, value) and not _same(value, values[name])
            ]
            for spec in self.table.many_to_many:
                if spec.key not in row.many_to_many:
                    continue
                in_file = sorted(set(row.many_to_many[spec.key]), key=str)
                in_database = sorted(set(many_to_many[spec.key].get(row.pk, ())), key=str)
                if in_file != in_database:
                    differences.append(FieldDifference(spec.key, in_file, in_database))
            if differences:
                self.comparison.differing.append(RowDifference(str(row.pk), differences))
            else:
                self.comparison.matching += 1

    def _difference(self, name, in_file, in_database) -> FieldDifference:
        spec = self.fields[name]
        if spec.key in self.table.secret_keys:
            return FieldDifference.of_secret(spec.key, in_file, in_database)
        return FieldDifference(
            spec.key, _spelling(spec.field, in_file), _spelling(spec.field, in_database)
        )

    def _compare_contents(self, rows) -> None:
        """An append-only table, a multiset (contents.py): the k-th file row of a content
        matches the database's k-th row of that content (by id), under whatever id; it is
        missing when the database holds fewer, and the database's rows beyond the file's
        are extra."""
        keys = [content_key(self.table, row.values) for row in rows]
        held = contents_held(self.table, [row.values for row in rows], set(keys), using=self.using)
        for row, key in zip(rows, keys, strict=True):
            pks = sorted(held.get(key, ()))
            taken = self.contents.taken(key)
            self.contents.take(key)
            if taken < len(pks):
                self.comparison.matching += 1
                self.seen.add(pks[taken])
            else:
                self.comparison.missing.append(str(row.pk))

    def _secret_left_empty(self, name, value) -> bool:
        # A file written with --exclude-secrets has them empty; the importer keeps the database's.
        return (
            self.skip_empty_secrets
            and value == ""
            and self.fields[name].field.name in self.table.secret_fields
        )

    def _find_extra(self) -> None:
        manager = self.table.model._base_manager.using(self.using)
        for pk in manager.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=5000):
            if pk not in self.seen:
                self.comparison.extra.append(str(pk))


def verify_domain(path, **options) -> VerifyReport:
    """Compare the file at `path` with the database `using`; return a VerifyReport.
    `options` are the ImportOptions that a comparison reads: `using`, `exclude`,
    `ignore_unknown`, `match`, `verify` and `lock_timeout` (seconds a read waits for
    another session's lock, on PostgreSQL; default: DATATRANSFER_LOCK_TIMEOUT).

    Only reads: everything runs in one transaction (read only, one snapshot, on
    PostgreSQL) that is rolled back. Tables absent from the file, left out of the export,
    or `exclude`d, are not compared; for a partial file (the changes since a time), the
    database's rows it lacks are not extra. Unless `verify` is false, the file is first checked
    against its manifest, as the import does. `match="natural"` compares as an import with
    that matching wrote: a file row whose id is not in the database but whose natural key
    is, is compared with that row, its links following (matching.py).
    Raises DataTransferError for a bad or altered file, an unknown table or field (unless
    `ignore_unknown`), an unknown `match`, an unreachable database, or a lock held by
    another session for longer than the lock timeout (LockTimeoutError).
    """
    started = time.monotonic()
    # The import's options, checked as for an import (the import's lock is never taken).
    options = ImportOptions(batch_size=BATCH_SIZE, **options)
    # Opened once: the check, the natural-key scan and the comparison read the same bytes.
    with ExportSource(path) as source:
        return _verify(source, options, started)


def _verify(source, options, started):
    """verify_domain's work, every read of the file through the ExportSource `source`;
    return the VerifyReport."""
    verification = _Verification(source, options)
    report = verification.compare()
    verification.add_notes(report)
    report.duration = time.monotonic() - started
    return report


class _Verification:
    """One comparison: the file's head read once (a FileHead), the check, the match (with
    natural keys), then each table of the file compared with the database."""

    def __init__(self, source, options):
        self.source, self.options = source, options
        self.by_key = tables_by_key()
        self.head = read_head(source, self.by_key.values(), options.exclude)
        self.matcher = None
        self.references = {}
        self.skip_empty_secrets = False

    def scan(self, matcher=None) -> list:
        """The check (and match) of the whole file (filecheck.scan_file); its notes."""
        options = self.options
        return scan_file(
            self.source,
            self.head,
            verify=options.verify,
            ignore_unknown=options.ignore_unknown,
            signing_key=options.signing_key,
            matcher=matcher,
        )

    def compare(self) -> VerifyReport:
        options, head, using = self.options, self.head, self.options.using
        notes = []
        if not options.verify:
            notes = [
                "Not verified: the file was compared without checking it against its manifest."
            ]
        elif options.match != "natural":  # with natural keys, one pass checks and matches, below
            notes = self.scan()
        with open_reader(self.source, any_version=not options.verify) as reader:
            if not options.verify:  # the signature holds all the same, as for an import
                notes += check_signature(reader.path, reader.metadata, options.signing_key)
            connection = open_connection(using)
            report = VerifyReport(
                file=self.source.path, database=using, file_size=reader.size, notes=notes
            )
            self.skip_empty_secrets = bool(reader.metadata.get("secretsExcluded"))
            # Refused here, in this order, when the file's lists are malformed.
            _, self.references, _ = head.left_out, head.references, head.partial
            waits = LockWaits(using, options.lock_timeout, "the comparison was stopped")
            with waits, read_only_snapshot(connection, using):
                waits.limit(connection)
                if options.match == "natural":
                    waits.doing = "matching natural keys"
                    self.matcher = NaturalKeyMatcher(using=using, batch_size=options.batch_size)
                    report.notes[:0] = self.scan(self.matcher)
                    self.references = self.matcher.translated(self.references)
                self.compare_tables(reader, report, waits)
                transaction.set_rollback(True, using=using)
        return report

    def compare_tables(self, reader, report, waits) -> None:
        """Compare each table of the file (not skipped) with the database's."""
        options, matcher = self.options, self.matcher
        for key, rows in reader.tables():
            table = self.by_key.get(key)
            if table is None:
                if not options.ignore_unknown:
                    raise unknown_error(reader.path, [f"table {quoted(key)}"])
                report.notes.append(f"Table {quoted(key)} is not in the models: not compared.")
                continue
            if key in self.head.skipped:
                continue
            waits.doing = f"reading {key}"
            comparison = report.tables.setdefault(
                key, TableComparison(key, by_content=table.write_policy.matched_by_content)
            )
            verifier = _TableVerifier(
                table,
                comparison,
                using=options.using,
                skip_empty_secrets=self.skip_empty_secrets,
                references=self.references.get(key, set()),
                partial=self.head.partial is not None,
            )
            rows = checked_rows(reader.path, table, rows, options.ignore_unknown)
            verifier.run(matcher.rows(table, rows) if matcher else rows)

    def add_notes(self, report) -> None:
        """The notes of what was matched, not compared, or compared otherwise."""
        left_out, references = self.head.left_out, self.references
        if self.matcher:
            report.id_mapping = {key: ids for key, ids in self.matcher.mapping.items() if ids}
            if report.id_mapping:
                counts = ", ".join(f"{key} {len(ids):,}" for key, ids in report.id_mapping.items())
                report.notes.append(
                    f"Matched by natural key, compared under the database's ids: {counts}."
                )
        absent = [
            key for key in self.by_key if key not in report.tables and key not in self.head.skipped
        ]
        if absent:
            report.notes.append(f"Not in the file, not compared: {', '.join(absent)}.")
        if left_out:
            report.notes.append(
                f"Left out of the export, not compared: {', '.join(sorted(left_out))}."
            )
        referenced = sum(len(ids) for key, ids in references.items() if key in report.tables)
        if referenced:
            report.notes.append(
                f"{referenced:,} rows in the file only as references (the import never changes "
                "them in a database that has them): checked to be in the database, not compared."
            )
        if self.head.partial is not None:
            report.notes.append(
                "A partial file (the rows changed since "
                f"{self.head.partial.get('since', 'a time')}): the database's other rows are "
                "not compared, none of them is extra."
            )
        if self.skip_empty_secrets:
            report.notes.append(
                "The file was written without secrets: empty secrets were not compared."
            )
