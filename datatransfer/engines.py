"""The two write engines of loaddomain, with the same outcome for every row.

`RowEngine` is the reference: `update_or_create` semantics, one row at a time, each in
its own savepoint. `BatchEngine` (the default) gets the same outcomes with a few queries
per batch of rows: one for the existing rows, one per foreign key and per unique key,
then one bulk insert and bulk updates; a batch the database refuses is replayed row by
row, so exactly the bad rows fail, with their precise message.

Both follow each table's write policy (registry.py): upsert; append-only, where a row is
judged by its content and, when the target lacks that content, appended under a new id
from the target's sequence (in a dry run on PostgreSQL, the ids the sequence would give,
read without moving it); immutable, where an existing row that differs is a conflict.
A row that is not written (skipped or failed) makes the rows that link to it skip or fail
only when the target lacks it: when its id is there, their links hold.
"""

import contextlib
import functools
import tempfile
from collections import defaultdict

import orjson
import psycopg.types.json
from django.db import DatabaseError, connections, models, transaction

from datatransfer.contents import content_key, contents_held
from datatransfer.exceptions import StrictModeFailure, escaped, one_line
from datatransfer.fileformat.codec import (
    SECRET_NOT_SHOWN,
    RowError,
    decode_row,
    dumps_json,
    row_encoders,
    value_decoder,
)
from datatransfer.locking import is_lock_timeout
from datatransfer.manifest import canonical_json
from datatransfer.registry import table_key
from datatransfer.reports import ImportReport, Outcome

DEFAULT_BATCH_SIZE = 1000
LINK_BATCH_SIZE = 1000


def _ALWAYS(model, value):
    return True


def _row_label(raw, table, number):
    """The row's id as the file gives it, or `#<position>` when it has none usable."""
    value = raw.get(table.pk.key)
    return (
        value
        if isinstance(value, str | int) and not isinstance(value, bool) and value != ""
        else f"#{number}"
    )


def _strict_failure(table, row_id, message) -> StrictModeFailure:
    return StrictModeFailure(
        f"{table.key} {escaped(row_id)}: {one_line(message)}. "
        "The import was rolled back: nothing was written."
    )


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def same_value(field, current, new) -> bool:
    if isinstance(field, models.JSONField):
        return canonical_json(current) == canonical_json(new)
    return current == new


def changed_values(table, current: dict, values: dict) -> dict:
    """The row's values that differ from the database's `current` ones; an empty secret
    (a file exported with --exclude-secrets) never replaces a set one."""
    fields = {spec.attname: spec.field for spec in table.fields}
    return {
        name: value
        for name, value in values.items()
        if not same_value(fields[name], current[name], value)
        and not (value == "" and current[name] and fields[name].name in table.secret_fields)
    }


@functools.cache
def _required(model) -> tuple:
    """(file key, attribute) of the fields a new row cannot do without."""
    return tuple(
        (f.column, f.attname)
        for f in model._meta.concrete_fields
        if not f.has_default() and not f.null
    )


def missing_required(table, values: dict) -> list[str]:
    return [key for key, attname in _required(table.model) if attname not in values]


def immutable_problem(table, current, values):
    """(SKIPPED, message) when `table` is immutable and the target's row `current`
    differs from the file's `values`; else None."""
    if not table.immutable or current is None:
        return None
    changed = changed_values(table, current, values)
    if not changed:
        return None
    keys = [spec.key for spec in table.fields if spec.attname in changed]
    verb = "differs" if len(keys) == 1 else "differ"
    return (
        Outcome.SKIPPED,
        f"the target holds another version of this row ({', '.join(keys)} {verb}) and "
        f"{table.key} rows are immutable: it was left as it is",
    )


class SequenceIds:
    """The ids a PostgreSQL sequence would give next, read without moving it: what a dry
    run writes its new rows under (nextval and setval are not undone by a rollback)."""

    def __init__(self, connection, model):
        quote = connection.ops.quote_name
        meta = model._meta
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)", [quote(meta.db_table), meta.pk.column]
            )
            (sequence,) = cursor.fetchone()
            if sequence is None:  # no sequence behind the key: past the largest id
                cursor.execute(f"SELECT max({quote(meta.pk.column)}) FROM {quote(meta.db_table)}")
                self.next, self.step = (cursor.fetchone()[0] or 0) + 1, 1
                return
            cursor.execute(
                "SELECT seqincrement FROM pg_sequence WHERE seqrelid = %s::regclass", [sequence]
            )
            (self.step,) = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last, called = cursor.fetchone()
        self.next = last + self.step if called else last

    def take(self) -> int:
        value, self.next = self.next, self.next + self.step
        return value


def _conflict_message(table, fields, lookup, other) -> str:
    """`slug 'ufhb' already belongs to organizations '<id>'`; a key holding a secret is
    named, never shown."""
    keys = [next(s.key for s in table.fields if s.field is f) for f in fields]
    if table.secret_keys.intersection(keys):
        shown = SECRET_NOT_SHOWN
    else:
        shown = "'" + ", ".join(str(v) for v in lookup) + "'"
    return f"{', '.join(keys)} {shown} already belongs to {table.key} '{other}'"


def _missing_keys_message(spec, missing) -> str:
    return (
        f"{spec.key} {', '.join(repr(k) for k in missing)}: no such "
        f"{table_key(spec.related_model)} in the file or the database"
    )


class RowEngine:
    """Writes rows one at a time with `update_or_create` semantics (the reference engine).

    Keeps, across the import, only the ids of skipped and failed rows that the target
    lacks (so that their dependants are skipped too); the links written last wait in a
    temporary file.
    `references` ({table key: primary keys}) are the rows the file carries only as
    references (a subset export's): created when the database lacks them, never changed
    when it has them (counted unchanged, and in `kept_references`).
    """

    def __init__(
        self,
        report: ImportReport,
        *,
        using: str,
        strict: bool,
        excluded: set,
        batch_size=None,
        references=None,
        dry_run=False,
    ):
        self.report = report
        self.using = using
        self.strict = strict
        self.excluded = excluded
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.references = references or {}
        self.kept_references = 0
        self.dry_run = dry_run
        # Rows not written that the target lacks: the rows linking to them cannot come in.
        self.skipped = defaultdict(set)
        self.failed = defaultdict(set)
        self._links = tempfile.TemporaryFile()
        self._tables = {}
        self._sequences = {}
        self.connection = connections[using]

    # -- outcomes

    def _fail(self, table, row_id, message, *, present=False):
        if not present:
            self.failed[table.key].add(row_id)
        self.report.record(table.key, Outcome.FAILED, row_id, message)
        if self.strict:
            raise _strict_failure(table, row_id, message)

    def _skip(self, table, row_id, message, *, present=False):
        if not present:
            self.skipped[table.key].add(row_id)
        self.report.record(table.key, Outcome.SKIPPED, row_id, message)

    def _settle(self, table, row_id, outcome, message=None, *, present=False):
        """Record a row's outcome. `present`: a row not written whose id the target holds,
        so that rows linking to it keep their link."""
        if outcome is Outcome.FAILED:
            self._fail(table, row_id, message, present=present)
        elif outcome is Outcome.SKIPPED:
            self._skip(table, row_id, message, present=present)
        else:
            self.report.record(table.key, outcome, row_id)

    def _keep_reference(self, table, pk) -> bool:
        """Whether `pk` is a reference row that the database already has: if so it is left
        as it is and counted unchanged."""
        if pk not in self.references.get(table.key, ()) or not self._row_exists(table.model, pk):
            return False
        self.report.record(table.key, Outcome.UNCHANGED, pk)
        self.kept_references += 1
        return True

    def _refuse(self, table, row_id, outcome, message):
        """Settle a row that is not written, asking the target whether it holds its id."""
        present = not table.append_only and self._present(table, row_id)
        self._settle(table, row_id, outcome, message, present=present)

    def _present(self, table, row_id) -> bool:
        """Whether the target holds a row with the id `row_id` (as the file spells it)."""
        try:
            pk = value_decoder(table.pk.field)(row_id)
        except (ValueError, TypeError, OverflowError):
            return False
        return bool(self._existing(table.model, {pk}))

    def _defer(self, table, pk, outcome, links):
        self._tables[table.key] = table
        self._links.write(orjson.dumps([table.key, pk, outcome.value, links]) + b"\n")

    # -- checks

    def _manager(self, model):
        return model._base_manager.using(self.using)

    def _link_problem(self, spec, value, exists, *, pending=()):
        """(outcome, message) when the link `spec` = `value` cannot be honoured, else None.
        `exists(model, value)` tells whether the target is in the database."""
        target = table_key(spec.field.related_model)
        if (
            value in self.skipped.get(target, ())
            or (target, value) in pending
            and pending[(target, value)] is Outcome.SKIPPED
        ):
            return Outcome.SKIPPED, f"{spec.key} '{value}': {target} '{value}' was skipped"
        if value in self.failed.get(target, ()) or (target, value) in pending:
            return Outcome.FAILED, f"{spec.key} '{value}': {target} '{value}' failed"
        if exists is not None and not exists(spec.field.related_model, value):
            where = (
                f"is not in the database and {target} is excluded from this import"
                if target in self.excluded
                else "exists neither in the file nor in the database"
            )
            return Outcome.FAILED, f"{spec.key} '{value}' {where}"
        return None

    def _existing(self, model, values) -> set:
        """The primary keys among `values` that the database holds (one query)."""
        if not values:
            return set()
        if self.connection.vendor == "postgresql":
            # One array parameter instead of one per value: much less to build and send.
            pk = model._meta.pk
            sql = (
                f"SELECT {self.connection.ops.quote_name(pk.column)} FROM "
                f"{self.connection.ops.quote_name(model._meta.db_table)} "
                f"WHERE {self.connection.ops.quote_name(pk.column)} = ANY(%s)"
            )
            with self.connection.cursor() as cursor:
                cursor.execute(sql, [list(values)])
                return {row[0] for row in cursor.fetchall()}
        return set(self._manager(model).filter(pk__in=values).values_list("pk", flat=True))

    def _row_exists(self, model, value):
        return self._manager(model).filter(pk=value).exists()

    def _dependency_problem(self, table, values, *, deferred_too=False, exists=None, pending=()):
        """(outcome, message) for the first link in `values` that cannot be honoured.

        Deferred links are checked against skipped and failed rows only, unless
        `deferred_too` (their targets may come later in the file).
        """
        exists = exists or self._row_exists
        deferred = {spec.attname for spec in table.deferred}
        for spec in table.fields:
            if not spec.field.is_relation or values.get(spec.attname) is None:
                continue
            check = exists if deferred_too or spec.attname not in deferred else None
            problem = self._link_problem(spec, values[spec.attname], check, pending=pending)
            if problem:
                return problem
        return None

    def _conflict(self, table, row, *, any_row=False):
        """A message when another row of the target holds one of the row's unique values
        (`any_row`: any row at all, for a row that will take a new id)."""
        for fields in table.unique_sets:
            if any(row.values.get(f.attname) is None for f in fields):
                continue
            lookup = {f.attname: row.values[f.attname] for f in fields}
            rows = self._manager(table.model).filter(**lookup)
            if not any_row:
                rows = rows.exclude(pk=row.pk)
            other = rows.values_list("pk", flat=True).first()
            if other is not None:
                return _conflict_message(table, fields, lookup.values(), other)
        return None

    def _many_to_many_ids(self, table, row):
        resolved = {}
        for spec in table.many_to_many:
            if spec.key not in row.many_to_many:
                continue
            keys = row.many_to_many[spec.key]
            lookup = spec.natural_field or "pk"
            found = dict(
                self._manager(spec.related_model)
                .filter(**{f"{lookup}__in": keys})
                .values_list(lookup, "pk")
            )
            missing = [k for k in keys if k not in found]
            if missing:
                raise RowError(_missing_keys_message(spec, missing))
            resolved[spec] = sorted(found[k] for k in keys)
        return resolved

    def _through(self, spec):
        through = spec.field.remote_field.through
        return (
            through,
            f"{spec.field.m2m_field_name()}_id",
            f"{spec.field.m2m_reverse_field_name()}_id",
        )

    def _current_many_to_many(self, spec, pks) -> dict:
        through, own, other = self._through(spec)
        current = defaultdict(list)
        for owner, target in (
            through._base_manager.using(self.using)
            .filter(**{f"{own}__in": pks})
            .values_list(own, other)
        ):
            current[owner].append(target)
        return {pk: sorted(ids) for pk, ids in current.items()}

    def _set_many_to_many(self, spec, wanted: dict, current: dict):
        """Make the links of each owner in `wanted` ({pk: ids}) exactly those ids."""
        through, own, other = self._through(spec)
        manager = through._base_manager.using(self.using)
        new_links = []
        for pk, ids in wanted.items():
            have = set(current.get(pk, ()))
            if have - set(ids):
                manager.filter(**{own: pk}).exclude(**{f"{other}__in": ids}).delete()
            new_links += [through(**{own: pk, other: i}) for i in ids if i not in have]
        manager.bulk_create(new_links, batch_size=self.batch_size)

    # -- writing

    def load_table(self, table, raw_rows, on_rows=None):
        self.report.add_table(table.key)
        for number, raw in enumerate(raw_rows, start=1):
            self.load_row(table, raw, number)
            if on_rows and number % 100 == 0:
                on_rows(100)

    def load_row(self, table, raw, number):
        row_id = _row_label(raw, table, number)
        try:
            row = decode_row(table, raw)
        except RowError as error:
            self._refuse(table, row_id, Outcome.FAILED, str(error))
            return
        if table.append_only:
            self._append_row(table, row)
            return
        row_id = row.pk
        if self._keep_reference(table, row_id):
            return
        problem = (
            self._dependency_problem(table, row.values)
            or immutable_problem(table, self._current(table, row.pk), row.values)
            or ((Outcome.SKIPPED, conflict) if (conflict := self._conflict(table, row)) else None)
        )
        if problem:
            self._refuse(table, row_id, *problem)
            return
        try:
            with transaction.atomic(using=self.using):
                outcome = self._write(table, row)
        except RowError as error:
            self._refuse(table, row_id, Outcome.FAILED, str(error))
            return
        except (DatabaseError, ValueError, TypeError) as error:
            if is_lock_timeout(error):
                raise  # the whole import gives up (importer.py), not this row
            message = f"could not be written: {first_line(error)}"
            self._refuse(table, row_id, Outcome.FAILED, message)
            return
        self.report.record(table.key, outcome, row_id)

    def _current(self, table, pk):
        """The target's row `pk` as {attribute: value}, when an immutable table holds it."""
        if not table.immutable:
            return None
        attnames = [spec.attname for spec in table.fields]
        return self._manager(table.model).filter(pk=pk).values(*attnames).first()

    # -- append-only tables

    def _append_row(self, table, row):
        """Append `row` under a new id unless the target holds its content already."""
        problem = self._dependency_problem(table, row.values)
        if not problem:
            key = content_key(table, row.values)
            if key in self._content_held(table, [row.values], {key}):
                self.report.record(table.key, Outcome.UNCHANGED, row.pk)
                return
            conflict = self._conflict(table, row, any_row=True)
            problem = (Outcome.SKIPPED, conflict) if conflict else None
        if not problem and (missing := missing_required(table, row.values)):
            problem = Outcome.FAILED, f"missing required field(s) {', '.join(missing)}"
        if problem:
            self._settle(table, row.pk, *problem)
            return
        try:
            with transaction.atomic(using=self.using):
                self._insert_new(table, [row.values])
        except (DatabaseError, ValueError, TypeError) as error:
            if is_lock_timeout(error):
                raise
            message = f"could not be written: {first_line(error)}"
            self._settle(table, row.pk, Outcome.FAILED, message)
            return
        self.report.record(table.key, Outcome.APPENDED, row.pk)

    def _content_held(self, table, rows: list, keys: set) -> set:
        """The content `keys` of `rows` (model values) that the target holds (one query)."""
        return set(contents_held(table, rows, keys, using=self.using))

    def _insert_new(self, table, rows: list):
        """Insert `rows` (model values) under new ids: the database's own, or in a dry run
        on PostgreSQL the ones its sequence would give, taken without moving it."""
        model, pk = table.model, table.pk.attname
        rows = [{n: v for n, v in values.items() if n != pk} for values in rows]
        if self.dry_run and self.connection.vendor == "postgresql":
            ids = self._sequences.get(table.key)
            if ids is None:
                ids = self._sequences[table.key] = SequenceIds(self.connection, model)
            for values in rows:
                values[pk] = ids.take()
        if self.connection.vendor == "postgresql":
            fields = table.fields if rows and pk in rows[0] else table.content
            copy_rows(self.connection, table, rows, fields=fields)
        else:
            self._manager(model).bulk_create(
                [model(**values) for values in rows], batch_size=self.batch_size
            )

    def _write(self, table, row) -> Outcome:
        model = table.model
        many_to_many = self._many_to_many_ids(table, row)
        deferred = {s.attname for s in table.deferred}
        links = {name: row.values[name] for name in deferred if name in row.values}
        current = (
            self._manager(model)
            .filter(pk=row.pk)
            .values(*(s.attname for s in table.fields))
            .first()
        )
        if current is None:
            missing = missing_required(table, row.values)
            if missing:
                raise RowError(f"missing required field(s) {', '.join(missing)}")
            instance = model(
                **{name: value for name, value in row.values.items() if name not in deferred}
            )
            instance.save_base(raw=True, force_insert=True, using=self.using)
            outcome = Outcome.CREATED
            links = {name: value for name, value in links.items() if value is not None}
            current_links = {}
        else:
            changed = changed_values(table, current, row.values)
            links = {name: value for name, value in links.items() if name in changed}
            columns = {name: value for name, value in changed.items() if name not in deferred}
            if columns:
                self._manager(model).filter(pk=row.pk).update(**columns)
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
            current_links = {
                spec: self._current_many_to_many(spec, [row.pk]) for spec in many_to_many
            }
        for spec, ids in many_to_many.items():
            have = current_links.get(spec, {}).get(row.pk, [])
            if outcome is Outcome.CREATED or have != ids:
                self._set_many_to_many(spec, {row.pk: ids}, {row.pk: have})
                if outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
        if links:
            self._defer(table, row.pk, outcome, links)
        return outcome

    def set_deferred_links(self):
        """Set the links written last (cycles, self-references), now that every row is in,
        in batches; a link whose target is missing fails its row."""
        self._links.seek(0)
        batch = []
        for line in self._links:
            batch.append(orjson.loads(line))
            if len(batch) == LINK_BATCH_SIZE:
                self._set_links(batch)
                batch = []
        self._set_links(batch)
        self._links.close()

    def _set_links(self, batch):
        targets = defaultdict(set)
        for key, _, _, links in batch:
            table = self._tables[key]
            for spec in table.deferred:
                if links.get(spec.attname) is not None:
                    targets[spec.field.related_model].add(links[spec.attname])
        present = {model: self._existing(model, values) for model, values in targets.items()}
        updates = defaultdict(list)
        for key, pk, outcome, links in batch:
            table = self._tables[key]
            problem = self._dependency_problem(
                table, links, deferred_too=True, exists=lambda model, value: value in present[model]
            )
            if problem:
                # The row itself is in the database: rows that link to it keep their link.
                message = f"{problem[1]} (the row was written without this link)"
                self.report.change(table.key, Outcome(outcome), Outcome.FAILED, pk, message)
                if self.strict:
                    raise _strict_failure(table, pk, message)
                continue
            updates[(key, tuple(sorted(links)))].append(table.model(pk=pk, **links))
        for (key, names), instances in updates.items():
            self._manager(self._tables[key].model).bulk_update(
                instances, list(names), batch_size=self.batch_size
            )


class BatchEngine(RowEngine):
    """The same outcomes as RowEngine, a batch of rows at a time."""

    def load_table(self, table, raw_rows, on_rows=None):
        self.report.add_table(table.key)
        self._fresh = not self._manager(table.model).exists()
        pk_key = table.pk.key
        batch, pks = [], set()
        for number, raw in enumerate(raw_rows, start=1):
            pk = raw.get(pk_key)
            pk = pk if isinstance(pk, str | int) else None
            if len(batch) >= self.batch_size or (pk is not None and pk in pks):
                self._load_batch(table, batch)
                if on_rows:
                    on_rows(len(batch))
                batch, pks = [], set()
            batch.append((number, raw))
            pks.add(pk)
        if batch:
            self._load_batch(table, batch)
            if on_rows:
                on_rows(len(batch))

    def _load_batch(self, table, batch):
        plan = self._plan_append(table, batch) if table.append_only else self._plan(table, batch)
        try:
            with transaction.atomic(using=self.using):
                self._write_plan(table, plan)
        except (DatabaseError, ValueError, TypeError) as error:
            if is_lock_timeout(error):
                raise
            for number, raw in batch:  # replay: exactly the bad rows fail, with their message
                self.load_row(table, raw, number)
            return
        for entry in plan:
            self._settle(
                table,
                entry["id"],
                entry["outcome"],
                entry.get("message"),
                present=entry.get("present", False),
            )
            self.kept_references += bool(entry.get("kept"))
            if entry.get("links"):
                self._defer(table, entry["id"], entry["outcome"], entry["links"])

    # -- classification, with no write

    def _plan(self, table, batch) -> list[dict]:
        """Classify each row as RowEngine would, with a few queries for the whole batch."""
        current = self._current_rows(table, batch)
        references = self.references.get(table.key, ())
        plan, rows = [], []
        for number, raw in batch:
            known = current.get(_row_label(raw, table, number))
            if known is not None and known[table.pk.attname] in references:
                # A reference the database has: left as it is (see _keep_reference).
                plan.append(
                    {"id": known[table.pk.attname], "outcome": Outcome.UNCHANGED, "kept": True}
                )
                continue
            if (
                known is not None
                and not table.many_to_many
                and self._same_as_file(table, raw, known)
            ):
                # Spelled exactly as the database's row: unchanged, nothing to decode.
                plan.append(
                    {"id": known[table.pk.attname], "values": known, "outcome": Outcome.UNCHANGED}
                )
                continue
            try:
                row = decode_row(table, raw)
            except RowError as error:
                plan.append(
                    {
                        "id": _row_label(raw, table, number),
                        "outcome": Outcome.FAILED,
                        "message": str(error),
                    }
                )
                continue
            plan.append({"id": row.pk, "row": row})
            rows.append(row)
        exists = self._existence(table, rows)
        holders = self._holders(table, rows) if current or not self._fresh else {}
        keys = self._natural_keys(table, rows)
        current_m2m = {
            spec: self._current_many_to_many(spec, list(current)) for spec in table.many_to_many
        }
        linkable = self._linkable(table, rows)
        present = self._presence(table, batch, current)
        # (table key, pk) -> outcome, for the rows of this batch that will not be written
        # and that the target lacks
        settled = {}
        for entry in plan:
            if entry.get("kept"):
                continue
            row = entry.pop("row", None)
            if row is None and "values" in entry:
                problem = self._dependency_problem(
                    table, entry.pop("values"), exists=_ALWAYS, pending=settled
                )
            elif row is None:
                entry["present"] = present(entry["id"])
                if not entry["present"]:
                    settled[(table.key, entry["id"])] = entry["outcome"]
                continue
            else:
                problem = self._dependency_problem(
                    table, row.values, exists=exists, pending=settled
                ) or immutable_problem(table, current.get(row.pk), row.values)
                if not problem:
                    conflict = self._claim(table, row, holders, current.get(row.pk))
                    problem = (Outcome.SKIPPED, conflict) if conflict else None
                if not problem:
                    problem = self._classify(
                        table, row, entry, current.get(row.pk), keys, current_m2m, linkable
                    )
                    if not problem and table.model in linkable.models:
                        linkable.written.add(row.pk)
            if problem:
                entry["outcome"], entry["message"] = problem
                entry["present"] = present(entry["id"])
                if not entry["present"]:
                    settled[(table.key, entry["id"])] = entry["outcome"]
                if self.strict and entry["outcome"] is Outcome.FAILED:
                    self._fail(table, entry["id"], entry["message"])
        return plan

    def _presence(self, table, batch, current):
        """present(row id): whether the target holds that id, for rows not written. From
        `current` (the batch's rows the target holds), or, in a table that was empty when
        the import began, from one query at the first need (a row repeated in the file)."""
        decode = value_decoder(table.pk.field)
        found = None

        def present(row_id) -> bool:
            nonlocal found
            try:
                pk = decode(row_id)
            except (ValueError, TypeError, OverflowError):
                return False
            if not self._fresh:
                return pk in current
            if found is None:
                pks = set()
                for _, raw in batch:
                    with contextlib.suppress(ValueError, TypeError, OverflowError):
                        pks.add(decode(raw.get(table.pk.key)))
                found = self._existing(table.model, pks - {None})
            return pk in found

        return present

    def _plan_append(self, table, batch) -> list[dict]:
        """Classify the rows of an append-only table as RowEngine would: unchanged when
        the target holds their content (or an earlier row of the file brought it), else
        appended; one query for the links, one for the content, one per unique key."""
        plan, rows = [], []
        for number, raw in batch:
            try:
                row = decode_row(table, raw)
            except RowError as error:
                label = _row_label(raw, table, number)
                plan.append({"id": label, "outcome": Outcome.FAILED, "message": str(error)})
                continue
            plan.append({"id": row.pk, "row": row})
            rows.append(row)
        exists = self._existence(table, rows)
        keys = {id(row): content_key(table, row.values) for row in rows}
        held = self._content_held(table, [row.values for row in rows], set(keys.values()))
        holders = self._holders(table, rows)
        for entry in plan:
            row = entry.pop("row", None)
            if row is None:
                problem = entry["outcome"], entry["message"]
            else:
                problem = self._dependency_problem(table, row.values, exists=exists)
            if row is not None and not problem:
                key = keys[id(row)]
                if key in held:
                    entry["outcome"] = Outcome.UNCHANGED
                    continue
                conflict = self._claim(table, row, holders, None, any_row=True)
                problem = (Outcome.SKIPPED, conflict) if conflict else None
                if not problem and (missing := missing_required(table, row.values)):
                    problem = Outcome.FAILED, f"missing required field(s) {', '.join(missing)}"
                if not problem:
                    held.add(key)
                    entry["outcome"], entry["append"] = Outcome.APPENDED, row.values
                    continue
            entry["outcome"], entry["message"] = problem
            if self.strict and entry["outcome"] is Outcome.FAILED:
                self._fail(table, entry["id"], entry["message"])
        return plan

    def _current_rows(self, table, batch) -> dict:
        """{pk: values} of the batch's rows already in the database (none to look for in
        a table that was empty when the import began: a row repeated across batches makes
        the write fail, and the row-by-row replay then sorts it out)."""
        if self._fresh:
            return {}
        decode_pk = value_decoder(table.pk.field)
        pks = set()
        for _, raw in batch:
            try:
                pks.add(decode_pk(raw.get(table.pk.key)))
            except (ValueError, TypeError):
                continue
        attnames = [s.attname for s in table.fields]
        return {
            values[table.pk.attname]: values
            for values in self._manager(table.model).filter(pk__in=pks).values(*attnames)
        }

    @staticmethod
    def _same_as_file(table, raw, current) -> bool:
        """Whether every field of `raw` is spelled as the file spells the `current` value."""
        for key, attname, encode, field in row_encoders(table):
            if key not in raw:
                continue
            value = current[attname]
            if isinstance(field, models.JSONField):
                if not same_value(field, value, raw[key]):
                    return False
            elif raw[key] != (value if value is None or encode is None else encode(value)):
                return False
        return True

    def _existence(self, table, rows):
        """exists(model, pk) for the targets of the rows' links, with one query per link."""
        wanted = defaultdict(set)
        deferred = {s.attname for s in table.deferred}
        for spec in table.fields:
            if spec.field.is_relation and spec.attname not in deferred:
                wanted[spec.field.related_model].update(
                    r.values[spec.attname] for r in rows if r.values.get(spec.attname) is not None
                )
        present = {model: self._existing(model, values) for model, values in wanted.items()}
        return lambda model, value: value in present.get(model, ())

    def _linkable(self, table, rows):
        """linkable(attname, pk): whether a deferred link's target is already in the database
        or written earlier in this batch (`.written`, for links into the same table)."""
        present = {}
        for spec in table.deferred:
            values = {
                r.values[spec.attname] for r in rows if r.values.get(spec.attname) is not None
            }
            model = spec.field.related_model
            present[spec.attname] = (model, self._existing(model, values))

        def linkable(attname, value):
            model, found = present[attname]
            return value in found or (model is table.model and value in linkable.written)

        linkable.written = set()
        linkable.models = {model for model, _ in present.values()}
        return linkable

    def _holders(self, table, rows) -> dict:
        """{(unique fields, values): pk} of the database rows holding the batch's unique values."""
        holders = {}
        for fields in table.unique_sets:
            names = [f.attname for f in fields]
            values = [tuple(r.values.get(n) for n in names) for r in rows]
            values = [v for v in values if None not in v]
            if not values:
                continue
            first = {v[0] for v in values}
            wanted = set(values)
            for found in (
                self._manager(table.model)
                .filter(**{f"{names[0]}__in": first})
                .values_list(*names, "pk")
            ):
                if found[:-1] in wanted:
                    holders[(fields, found[:-1])] = found[-1]
        return holders

    def _claim(self, table, row, holders, current, *, any_row=False):
        """A conflict message when another row holds one of the row's unique values (with
        `any_row`, any row at all: the row takes a new id); else take the values for this
        row (and free the ones it gives up)."""
        claims = []
        for fields in table.unique_sets:
            names = [f.attname for f in fields]
            value = tuple(row.values.get(n) for n in names)
            if None in value:
                continue
            holder = holders.get((fields, value))
            if holder is not None and (any_row or holder != row.pk):
                return _conflict_message(table, fields, value, holder)
            claims.append((fields, names, value))
        for fields, names, value in claims:
            if current is not None:
                old = tuple(current[n] for n in names)
                if holders.get((fields, old)) == row.pk:
                    del holders[(fields, old)]
            holders[(fields, value)] = row.pk
        return None

    def _natural_keys(self, table, rows) -> dict:
        resolved = {}
        for spec in table.many_to_many:
            keys = {k for r in rows for k in r.many_to_many.get(spec.key, ())}
            lookup = spec.natural_field or "pk"
            resolved[spec] = (
                dict(
                    self._manager(spec.related_model)
                    .filter(**{f"{lookup}__in": keys})
                    .values_list(lookup, "pk")
                )
                if keys
                else {}
            )
        return resolved

    def _classify(self, table, row, entry, current, keys, current_m2m, linkable):
        """Fill `entry` with what to write; return (outcome, message) for a failure."""
        wanted = {}
        for spec in table.many_to_many:
            if spec.key not in row.many_to_many:
                continue
            names = row.many_to_many[spec.key]
            missing = [k for k in names if k not in keys[spec]]
            if missing:
                return Outcome.FAILED, _missing_keys_message(spec, missing)
            wanted[spec] = sorted(keys[spec][k] for k in names)
        # A deferred link whose target is already in (the usual case for a chain of rows
        # in file order) is written with the row; the others wait for the end.
        deferred = [s.attname for s in table.deferred]
        later = {
            n for n in deferred if row.values.get(n) is not None and not linkable(n, row.values[n])
        }
        if current is None:
            missing = missing_required(table, row.values)
            if missing:
                return Outcome.FAILED, f"missing required field(s) {', '.join(missing)}"
            entry["create"] = {n: v for n, v in row.values.items() if n not in later}
            entry["outcome"] = Outcome.CREATED
            entry["links"] = {n: row.values[n] for n in later}
        else:
            changed = changed_values(table, current, row.values)
            entry["update"] = {n: v for n, v in changed.items() if n not in later}
            entry["links"] = {n: v for n, v in changed.items() if n in later}
            entry["outcome"] = Outcome.UPDATED if changed else Outcome.UNCHANGED
        m2m = {}
        for spec, ids in wanted.items():
            have = current_m2m[spec].get(row.pk, [])
            if entry["outcome"] is Outcome.CREATED or have != ids:
                m2m[spec] = (ids, have)
                if entry["outcome"] is Outcome.UNCHANGED:
                    entry["outcome"] = Outcome.UPDATED
        entry["m2m"] = m2m
        return None

    # -- writing

    def _write_plan(self, table, plan):
        model = table.model
        manager = self._manager(model)
        appends = [entry["append"] for entry in plan if "append" in entry]
        if appends:
            self._insert_new(table, appends)
        creates = [entry["create"] for entry in plan if "create" in entry]
        if creates and self.connection.vendor == "postgresql":
            copy_rows(self.connection, table, creates)
        elif creates:
            manager.bulk_create([model(**values) for values in creates], batch_size=self.batch_size)
        updates = defaultdict(list)
        for entry in plan:
            if entry.get("update"):
                updates[tuple(sorted(entry["update"]))].append(
                    model(pk=entry["id"], **entry["update"])
                )
        for names, instances in updates.items():
            manager.bulk_update(instances, list(names), batch_size=self.batch_size)
        for spec in table.many_to_many:
            changes = [(e["id"], *e["m2m"][spec]) for e in plan if spec in e.get("m2m", {})]
            if changes:
                self._set_many_to_many(
                    spec, {pk: ids for pk, ids, _ in changes}, {pk: have for pk, _, have in changes}
                )


def _json_dumps(value) -> str:
    return dumps_json(value).decode()


def copy_rows(connection, table, rows: list[dict], *, fields=None) -> None:
    """Insert new rows with PostgreSQL's COPY, the database's own bulk path.

    `rows` hold model values by attribute name; absent fields take their default. Only
    the columns of `fields` (FieldSpecs, default all) are written: the others take the
    database's default (a sequence's next value). Database errors come out as Django's
    DatabaseError, as from any other query.
    """
    fields = [spec.field for spec in (table.fields if fields is None else fields)]
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {connection.ops.quote_name(table.model._meta.db_table)} ({columns}) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(sql) as copy,
    ):
        for values in rows:
            record = []
            for field in fields:
                name = field.attname
                value = values[name] if name in values else field.get_default()
                if name in json_fields and value is not None:
                    value = psycopg.types.json.Jsonb(value, dumps=_json_dumps)
                record.append(value)
            copy.write_row(record)


ENGINES = {"rows": RowEngine, "batch": BatchEngine}
