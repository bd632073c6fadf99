"""The import engine: upsert a file's rows by primary key, table by table, in one transaction.

Each row ends created, updated, unchanged (no write at all), skipped (a unique key held
by another row, or a dependency on a skipped row) or failed (a value or reference that
does not fit), each row in its own savepoint. A dry run is the same import rolled back.
"""

import json
import tempfile
import time
from collections import defaultdict

import orjson
from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, models, transaction

from datatransfer.databases import open_connection
from datatransfer.exceptions import DataTransferError, StrictModeFailure, UnknownTableError
from datatransfer.fileformat import RowError, decode_row, open_export
from datatransfer.registry import domain_tables, table_key
from datatransfer.reports import ImportReport, Outcome


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def unique_sets(model) -> list[tuple[models.Field, ...]]:
    """The model's unique keys other than the primary key (fields, unique_together,
    unconditional UniqueConstraints)."""
    meta = model._meta
    sets = [(f,) for f in meta.concrete_fields if f.unique and not f.primary_key]
    names = [tuple(group) for group in meta.unique_together]
    names += [
        tuple(c.fields)
        for c in meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields and c.condition is None
    ]
    sets += [tuple(meta.get_field(name) for name in group) for group in names]
    return sets


def _same(field, current, new) -> bool:
    if isinstance(field, models.JSONField):
        return json.dumps(current, sort_keys=True) == json.dumps(new, sort_keys=True)
    return current == new


class RowEngine:
    """Writes rows one at a time with `update_or_create` semantics (the reference engine).

    Keeps, across the import, only the ids of skipped and failed rows (so that their
    dependants are skipped too) and the deferred links to set at the end.
    """

    def __init__(self, report: ImportReport, *, using: str, strict: bool, excluded: set):
        self.report = report
        self.using = using
        self.strict = strict
        self.excluded = excluded
        self.skipped = defaultdict(set)
        self.failed = defaultdict(set)
        self.pending_links = []  # (table, pk, outcome, {attname: value})

    # -- outcomes

    def _fail(self, table, row_id, message):
        self.failed[table.key].add(row_id)
        self.report.record(table.key, Outcome.FAILED, row_id, message)
        if self.strict:
            raise StrictModeFailure(
                f"{table.key} {row_id}: {message}. With --strict the import was rolled back: nothing was written."
            )

    def _skip(self, table, row_id, message):
        self.skipped[table.key].add(row_id)
        self.report.record(table.key, Outcome.SKIPPED, row_id, message)

    # -- checks

    def _manager(self, model):
        return model._base_manager.using(self.using)

    def _dependency_problem(self, table, values, *, deferred_too=False):
        """Return (outcome, message) when a link in `values` cannot be honoured, else None.

        Deferred links are only checked against skipped and failed rows, unless
        `deferred_too` (their targets may come later in the file).
        """
        deferred = {spec.attname for spec in table.deferred}
        for spec in table.fields:
            field = spec.field
            if not field.is_relation or spec.attname not in values:
                continue
            value = values[spec.attname]
            if value is None:
                continue
            target = table_key(field.related_model)
            if value in self.skipped.get(target, ()):
                return Outcome.SKIPPED, f"{spec.key} '{value}': {target} '{value}' was skipped"
            if value in self.failed.get(target, ()):
                return Outcome.FAILED, f"{spec.key} '{value}': {target} '{value}' failed"
            if spec.attname in deferred and not deferred_too:
                continue
            if not self._manager(field.related_model).filter(pk=value).exists():
                where = (
                    f"is not in the database and {target} is excluded from this import"
                    if target in self.excluded
                    else "exists neither in the file nor in the database"
                )
                return Outcome.FAILED, f"{spec.key} '{value}' {where}"
        return None

    def _conflict(self, table, row):
        """Return a message when a unique key of the row belongs to another row, else None."""
        for fields in unique_sets(table.model):
            if any(f.attname not in row.values or row.values[f.attname] is None for f in fields):
                continue
            lookup = {f.attname: row.values[f.attname] for f in fields}
            other = (
                self._manager(table.model).filter(**lookup).exclude(pk=row.pk).values_list("pk", flat=True).first()
            )
            if other is not None:
                keys = ", ".join(next(s.key for s in table.fields if s.field is f) for f in fields)
                shown = ", ".join(str(v) for v in lookup.values())
                return f"{keys} '{shown}' already belongs to {table.key} '{other}'"
        return None

    def _many_to_many_ids(self, table, row):
        """Return {spec: [related pks]} for the row's many-to-many keys; raise RowError for
        a key that matches nothing."""
        resolved = {}
        for spec in table.many_to_many:
            if spec.key not in row.many_to_many:
                continue
            keys = row.many_to_many[spec.key]
            lookup = spec.natural_field or "pk"
            found = dict(
                self._manager(spec.related_model).filter(**{f"{lookup}__in": keys}).values_list(lookup, "pk")
            )
            missing = [k for k in keys if k not in found]
            if missing:
                raise RowError(
                    f"{spec.key} {', '.join(repr(k) for k in missing)}: no such "
                    f"{table_key(spec.related_model)} in the file or the database"
                )
            resolved[spec] = sorted(found[k] for k in keys)
        return resolved

    def _current_many_to_many(self, spec, pk):
        through = spec.field.remote_field.through
        own, other = spec.field.m2m_field_name(), spec.field.m2m_reverse_field_name()
        return sorted(
            through._base_manager.using(self.using).filter(**{f"{own}_id": pk}).values_list(f"{other}_id", flat=True)
        )

    def _set_many_to_many(self, spec, pk, ids):
        through = spec.field.remote_field.through
        own, other = spec.field.m2m_field_name(), spec.field.m2m_reverse_field_name()
        manager = through._base_manager.using(self.using)
        manager.filter(**{f"{own}_id": pk}).exclude(**{f"{other}_id__in": ids}).delete()
        present = set(manager.filter(**{f"{own}_id": pk}).values_list(f"{other}_id", flat=True))
        manager.bulk_create([through(**{f"{own}_id": pk, f"{other}_id": i}) for i in ids if i not in present])

    # -- writing

    def load_table(self, table, raw_rows):
        self.report.add_table(table.key)
        for number, raw in enumerate(raw_rows, start=1):
            self.load_row(table, raw, number)

    def load_row(self, table, raw, number):
        row_id = raw.get(table.pk.key) or f"#{number}"
        try:
            row = decode_row(table, raw)
        except RowError as error:
            self._fail(table, row_id, str(error))
            return
        row_id = row.pk
        problem = self._dependency_problem(table, row.values)
        if problem:
            outcome, message = problem
            (self._skip if outcome is Outcome.SKIPPED else self._fail)(table, row_id, message)
            return
        conflict = self._conflict(table, row)
        if conflict:
            self._skip(table, row_id, conflict)
            return
        try:
            with transaction.atomic(using=self.using):
                outcome = self._write(table, row)
        except RowError as error:
            self._fail(table, row_id, str(error))
            return
        except (DatabaseError, ValueError, TypeError) as error:
            self._fail(table, row_id, f"could not be written: {_first_line(error)}")
            return
        self.report.record(table.key, outcome, row_id)

    def _write(self, table, row) -> Outcome:
        model = table.model
        many_to_many = self._many_to_many_ids(table, row)
        deferred = {s.attname for s in table.deferred}
        links = {name: row.values[name] for name in deferred if name in row.values}
        attnames = [spec.attname for spec in table.fields]
        current = self._manager(model).filter(pk=row.pk).values(*attnames).first()
        if current is None:
            missing = [
                spec.key
                for spec in table.fields
                if spec.attname not in row.values and not spec.field.has_default() and not spec.field.null
            ]
            if missing:
                raise RowError(f"missing required field(s) {', '.join(missing)}")
            instance = model(**{name: value for name, value in row.values.items() if name not in deferred})
            instance.save_base(raw=True, force_insert=True, using=self.using)
            outcome = Outcome.CREATED
            links = {name: value for name, value in links.items() if value is not None}
        else:
            fields = {spec.attname: spec.field for spec in table.fields}
            changed = {
                name: value
                for name, value in row.values.items()
                if not _same(fields[name], current[name], value)
            }
            links = {name: value for name, value in links.items() if name in changed}
            columns = {name: value for name, value in changed.items() if name not in deferred}
            if columns:
                self._manager(model).filter(pk=row.pk).update(**columns)
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
        for spec, ids in many_to_many.items():
            if outcome is Outcome.CREATED or self._current_many_to_many(spec, row.pk) != ids:
                self._set_many_to_many(spec, row.pk, ids)
                if outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
        if links:
            self.pending_links.append((table, row.pk, outcome, links))
        return outcome

    def set_deferred_links(self):
        """Set the links written last (cycles, self-references), now that every row is in."""
        for table, pk, outcome, links in self.pending_links:
            problem = self._dependency_problem(table, links, deferred_too=True)
            if problem:
                _, message = problem
                self.failed[table.key].add(pk)
                self.report.change(
                    table.key, outcome, Outcome.FAILED, pk, f"{message} (the row was written without this link)"
                )
                if self.strict:
                    raise StrictModeFailure(
                        f"{table.key} {pk}: {message}. With --strict the import was rolled back: nothing was written."
                    )
                continue
            self._manager(table.model).filter(pk=pk).update(**links)
        self.pending_links = []


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
                spool.write(orjson.dumps(row) + b"\n")
            self.spooled[table.key] = (table, spool)

    def _release(self, *, finishing=False) -> None:
        while True:
            ready = [
                key for key, (table, _) in self.spooled.items()
                if finishing or self._ready(table)
            ]
            if not ready:
                return
            key = min(ready, key=self.order.__getitem__)
            table, spool = self.spooled.pop(key)
            with spool:
                spool.seek(0)
                self.load(table, (orjson.loads(line) for line in spool))
            self.seen.add(key)

    def finish(self) -> None:
        """Load what is still spooled (its missing dependencies are not in the file)."""
        self._release(finishing=True)


def _reset_sequences(connection, model_list):
    """After explicit integer keys, move sequences past them (as loaddata does)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def import_domain(
    path, *, using="default", dry_run=False, strict=False, exclude=(), ignore_unknown=False
) -> ImportReport:
    """Upsert the file at `path` into the database `using`; return an ImportReport.

    Everything happens in one transaction, committed at the end, or rolled back for a
    dry run. Raises DataTransferError (nothing written) for a bad file, an unknown table
    or field, an unreachable database, or a failed row under `strict`.
    """
    started = time.monotonic()
    tables = domain_tables()
    by_key = {t.key: t for t in tables}
    exclude = set(exclude)
    unknown_excluded = sorted(exclude - set(by_key))
    if unknown_excluded:
        raise DataTransferError(f"Unknown table(s) to exclude: {', '.join(unknown_excluded)}.")
    with open_export(path) as reader:
        listed = reader.metadata.get("tables")
        expected = list(listed) if isinstance(listed, dict) else list(by_key)
        unknown = [key for key in expected if key not in by_key]
        if unknown and not ignore_unknown:
            raise UnknownTableError(_unknown_message(reader.path, [f"table '{k}'" for k in unknown]))
        connection = open_connection(using)
        report = ImportReport(file=str(path), database=using, dry_run=dry_run, file_size=reader.size)
        if reader.version.startswith("1."):
            report.notes.append("Format 1.0 file (the Node.js tool): it carries no checksums to verify.")
        engine = RowEngine(report, using=using, strict=strict, excluded=exclude)
        loaded = []

        def load(table, rows):
            loaded.append(table)
            engine.load_table(table, _checked_rows(reader.path, table, rows, ignore_unknown))

        scheduler = TableScheduler(load, tables, expected_keys=[k for k in expected if k not in exclude])
        with transaction.atomic(using=using):
            for key, rows in reader.tables():
                if key not in by_key:
                    if not ignore_unknown:
                        raise UnknownTableError(_unknown_message(reader.path, [f"table '{key}'"]))
                    report.notes.append(f"Table '{key}' is not in the models: skipped (--ignore-unknown).")
                elif key not in exclude:
                    scheduler.offer(by_key[key], rows)
            scheduler.finish()
            engine.set_deferred_links()
            _reset_sequences(connection, [t.model for t in loaded])
            try:
                connection.check_constraints(table_names=[t.model._meta.db_table for t in loaded])
            except IntegrityError as error:
                raise DataTransferError(
                    f"The import would break a foreign key ({_first_line(error)}); it was rolled back."
                ) from None
            if dry_run:
                transaction.set_rollback(True, using=using)
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
                fields = [f"field '{table.key}.{name}'" for name in _unknown_fields(table, raw)]
                raise UnknownTableError(_unknown_message(path, fields))
            raw = {name: value for name, value in raw.items() if name in known}
        yield raw
