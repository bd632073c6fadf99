"""The batch engine (the default off PostgreSQL): the reference engine's outcomes with a
few queries per batch of rows.

A batch of rows of one table is first planned with no write: one query for the rows the
target holds, one per foreign key, per unique key and per many-to-many, and the plan
(`BatchPlan`) says what each row becomes. It is then written in one savepoint: a COPY (on
PostgreSQL) or a bulk insert, bulk updates, the links. A batch the database refuses is
replayed one row at a time, so that exactly the bad rows fail, each with its own message.
"""

import contextlib
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field

import orjson
import psycopg.types.json
from django.db import DatabaseError, connections, models, transaction

from datatransfer.contents import ContentCounts, content_key, contents_held
from datatransfer.exceptions import StrictModeFailure, escaped, first_line, one_line
from datatransfer.formats.json.codec import dumps_json
from datatransfer.formats.rows import RowError, decode_row, row_encoders, value_decoder
from datatransfer.locking import is_lock_timeout
from datatransfer.registry import ManyToManySpec, same_value, table_key
from datatransfer.reports import Outcome
from datatransfer.sequences import SequenceIds

DEFAULT_BATCH_SIZE = 1000
LINK_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """The outcome of one row of a batch, recorded once the batch is written."""

    id: object  # the row's id, as reported
    outcome: Outcome
    message: str | None = None  # why a row is skipped or failed
    present: bool = False  # not written, but the target holds its id: links to it hold
    kept: bool = False  # a reference row the target has, left as it is


@dataclass
class BatchPlan:
    """What a batch of rows of one table becomes: the writes, and each row's outcome."""

    rows: list[PlannedRow] = field(default_factory=list)  # every row, in file order
    appends: list[dict] = field(default_factory=list)  # model values, to take new ids
    creates: list[dict] = field(default_factory=list)  # model values, deferred links left out
    updates: list[tuple[object, dict]] = field(default_factory=list)  # (pk, changed values)
    # (spec, pk, the ids it links to, the ids it linked to)
    many_to_many: list[tuple[ManyToManySpec, object, list, list]] = field(default_factory=list)
    deferred: list[tuple[object, Outcome, dict]] = field(default_factory=list)  # links set last
    contents: ContentCounts | None = None  # an append-only table: the rows this batch takes


# How a row of a batch stands before its checks (see BatchEngine._plan).
_KEPT, _SAME, _UNDECODABLE, _DECODED = "kept", "same", "undecodable", "decoded"


def _always(model, value):
    return True


class BatchEngine:
    """Writes the rows of each table a batch at a time, with the reference engine's
    outcomes (see RowEngine for `references`).

    Keeps, across the import, only the ids of the refused rows that the target lacks (so
    that their dependants are refused too); the links written last wait in a temporary
    file.
    """

    def __init__(
        self,
        report,
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
        self.connection = connections[using]
        # {(table key, id): SKIPPED or FAILED}: rows not written that the target lacks
        self.refused = {}
        self._links = tempfile.TemporaryFile()
        self._tables = {}
        self._sequences = {}
        self._contents = {}  # {table key: ContentCounts}: an append-only table's rows taken

    def load_table(self, table, raw_rows, on_rows=None):
        self.report.add_table(table.key)
        self._contents[table.key] = ContentCounts()
        # A table empty when the import began holds none of the file's rows: no need to look.
        fresh = not self._manager(table.model).exists()
        pk_key = table.pk.key
        batch, pks = [], set()
        for number, raw in enumerate(raw_rows, start=1):
            pk = raw.get(pk_key)
            pk = pk if isinstance(pk, str | int) else None
            if len(batch) >= self.batch_size or (pk is not None and pk in pks):
                self._load_batch(table, batch, fresh=fresh)
                if on_rows:
                    on_rows(len(batch))
                batch, pks = [], set()
            batch.append((number, raw))
            pks.add(pk)
        if batch:
            self._load_batch(table, batch, fresh=fresh)
            if on_rows:
                on_rows(len(batch))

    def _load_batch(self, table, batch, *, fresh):
        plan = self._plan(table, batch, fresh=fresh)
        try:
            with transaction.atomic(using=self.using):
                self._write(table, plan)
        except (DatabaseError, ValueError, TypeError) as error:
            if is_lock_timeout(error):
                raise  # the whole import gives up (importer.py), not this batch
            if len(batch) > 1:  # replay: exactly the bad rows fail, with their message
                for item in batch:
                    self._load_batch(table, [item], fresh=False)
                return
            [row] = plan.rows
            present = not table.write_policy.matched_by_content and self._present(table, row.id)
            message = f"could not be written: {first_line(error)}"
            self._record(table, PlannedRow(row.id, Outcome.FAILED, message, present=present))
            return
        if plan.contents is not None:  # written: what the batch took is taken
            self._contents[table.key].add(plan.contents)
        for row in plan.rows:
            self._record(table, row)
        self.kept_references += sum(row.kept for row in plan.rows)
        for pk, outcome, links in plan.deferred:
            self.defer_links(table, pk, outcome, links)

    def defer_links(self, table, pk, outcome: Outcome, links: dict) -> None:
        """Keep the links `links` ({attname: id}) of the row `pk`, written with the outcome
        `outcome`, to be set at the end (set_deferred_links)."""
        self._tables[table.key] = table
        self._links.write(orjson.dumps([table.key, pk, outcome.value, links]) + b"\n")

    def _record(self, table, row: PlannedRow):
        if row.outcome in (Outcome.SKIPPED, Outcome.FAILED) and not row.present:
            self.refused[(table.key, row.id)] = row.outcome
        self.report.record(table.key, row.outcome, row.id, row.message)
        if self.strict and row.outcome is Outcome.FAILED:
            raise _strict_failure(table, row.id, row.message)

    # -- planning, with no write

    def _plan(self, table, batch, *, fresh) -> BatchPlan:
        """Classify each row as the reference engine would, with a few queries."""
        if table.write_policy.matched_by_content:
            return self._plan_append(table, batch)
        current = {} if fresh else self._current_rows(table, batch)
        references = self.references.get(table.key, ())
        pk_name = table.pk.attname
        items = []  # (id, how the row stands, what to check)
        for number, raw in batch:
            known = current.get(table.row_label(raw, number))
            if known is not None and known[pk_name] in references:
                items.append((known[pk_name], _KEPT, None))
            elif known is not None and not table.many_to_many and _same_as_file(table, raw, known):
                # Spelled exactly as the database's row: unchanged, nothing to decode.
                items.append((known[pk_name], _SAME, known))
            else:
                items.append(_decoded(table, number, raw))
        rows = [item for _, stands, item in items if stands is _DECODED]
        exists = self._existence(table, rows)
        holders = self._holders(table, rows) if current or not fresh else {}
        keys = self._natural_keys(table, rows)
        current_m2m = {spec: spec.linked(list(current), self.using) for spec in table.many_to_many}
        linkable = self._linkable(table, rows)
        present = self._presence(table, batch, current, fresh)
        plan = BatchPlan()
        # {(table key, id): outcome} of this batch's rows not written that the target lacks
        pending = {}
        for row_id, stands, item in items:
            if stands is _KEPT:
                plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED, kept=True))
                continue
            if stands is _UNDECODABLE:
                problem = Outcome.FAILED, item
            elif stands is _SAME:
                problem = self._dependency_problem(table, item, exists=_always, pending=pending)
                if problem is None:
                    plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED))
                    continue
            else:
                known = current.get(row_id)
                problem = self._dependency_problem(
                    table, item.values, exists=exists, pending=pending
                )
                kept = _kept(table, known, item.values) if problem is None else None
                if kept is not None and kept[0] is Outcome.UNCHANGED:
                    plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED))
                    continue
                problem = (
                    problem
                    or kept
                    or self._claim(table, item, holders, known)
                    or self._classify(table, item, plan, known, keys, current_m2m, linkable)
                )
                if problem is None:
                    if table.model in linkable.models:
                        linkable.written.add(row_id)
                    continue
            held = present(row_id)
            if not held:
                pending[(table.key, row_id)] = problem[0]
            self._refuse(table, plan, PlannedRow(row_id, *problem, present=held))
        return plan

    def _refuse(self, table, plan, row: PlannedRow):
        plan.rows.append(row)
        if self.strict and row.outcome is Outcome.FAILED:
            raise _strict_failure(table, row.id, row.message)

    def _plan_append(self, table, batch) -> BatchPlan:
        """Classify the rows of an append-only table: unchanged when the target holds more
        rows of their content than the file's earlier rows of that content took (those
        this import appended included: contents.py, a multiset), else appended; one query
        for the links, one for the content, one per unique key."""
        items = [_decoded(table, number, raw) for number, raw in batch]
        rows = [item for _, stands, item in items if stands is _DECODED]
        exists = self._existence(table, rows)
        keys = {id(row): content_key(table, row.values) for row in rows}
        values = [row.values for row in rows]
        held = {
            key: len(pks)
            for key, pks in contents_held(
                table, values, set(keys.values()), using=self.using
            ).items()
        }
        holders = self._holders(table, rows)
        plan = BatchPlan(contents=ContentCounts(base=self._contents[table.key]))
        for row_id, stands, row in items:
            if stands is _UNDECODABLE:
                problem = Outcome.FAILED, row
            else:
                problem = self._dependency_problem(table, row.values, exists=exists)
            key = keys.get(id(row))
            if problem is None and plan.contents.matches(key, held.get(key, 0)):
                plan.contents.take(key)
                plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED))
                continue
            if problem is None:
                problem = self._claim(table, row, holders, None, any_row=True)
            if problem is None and (message := table.missing_required(row.values)):
                problem = Outcome.FAILED, message
            if problem is None:
                held[key] = held.get(key, 0) + 1  # the target holds it once written
                plan.contents.take(key)
                plan.appends.append(row.values)
                plan.rows.append(PlannedRow(row_id, Outcome.APPENDED))
                continue
            self._refuse(table, plan, PlannedRow(row_id, *problem))
        return plan

    def _classify(self, table, row, plan, current, keys, current_m2m, linkable):
        """Add to `plan` what to write for `row`, and its outcome; or return (outcome,
        message) for a row that cannot be written."""
        wanted = {}
        for spec in table.many_to_many:
            if spec.key not in row.many_to_many:
                continue
            names = row.many_to_many[spec.key]
            if missing := [k for k in names if k not in keys[spec]]:
                return Outcome.FAILED, (
                    f"{spec.key} {', '.join(repr(k) for k in missing)}: no such "
                    f"{table_key(spec.related_model)} in the file or the database"
                )
            wanted[spec] = sorted(keys[spec][k] for k in names)
        # A deferred link whose target is already in (the usual case for a chain of rows
        # in file order) is written with the row; the others wait for the end.
        later = {
            spec.attname
            for spec in table.deferred
            if row.values.get(spec.attname) is not None
            and not linkable(spec.attname, row.values[spec.attname])
        }
        if current is None:
            if message := table.missing_required(row.values):
                return Outcome.FAILED, message
            plan.creates.append({n: v for n, v in row.values.items() if n not in later})
            outcome = Outcome.CREATED
            links = {n: row.values[n] for n in later}
        else:
            changed = table.changed_values(current, row.values)
            if update := {n: v for n, v in changed.items() if n not in later}:
                plan.updates.append((row.pk, update))
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
            links = {n: v for n, v in changed.items() if n in later}
        for spec, ids in wanted.items():
            have = current_m2m[spec].get(row.pk, [])
            if current is None or have != ids:
                plan.many_to_many.append((spec, row.pk, ids, have))
                if outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
        if links:
            plan.deferred.append((row.pk, outcome, links))
        plan.rows.append(PlannedRow(row.pk, outcome))
        return None

    # -- what the planning reads, a batch at a time

    def _current_rows(self, table, batch) -> dict:
        """{pk: values} of the batch's rows already in the database."""
        decode_pk = value_decoder(table.pk.field)
        pks = set()
        for _, raw in batch:
            with contextlib.suppress(ValueError, TypeError):
                pks.add(decode_pk(raw.get(table.pk.key)))
        attnames = [s.attname for s in table.fields]
        return {
            values[table.pk.attname]: values
            for values in self._manager(table.model).filter(pk__in=pks).values(*attnames)
        }

    def _presence(self, table, batch, current, fresh):
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
            if not fresh:
                return pk in current
            if found is None:
                pks = set()
                for _, raw in batch:
                    with contextlib.suppress(ValueError, TypeError, OverflowError):
                        pks.add(decode(raw.get(table.pk.key)))
                found = self._existing(table.model, pks - {None})
            return pk in found

        return present

    def _present(self, table, row_id) -> bool:
        """Whether the target holds a row with the id `row_id` (as the file spells it)."""
        try:
            pk = value_decoder(table.pk.field)(row_id)
        except (ValueError, TypeError, OverflowError):
            return False
        return bool(self._existing(table.model, {pk}))

    def _existing(self, model, values) -> set:
        """The primary keys among `values` that the database holds (one query)."""
        if not values:
            return set()
        if self.connection.vendor == "postgresql":
            # One array parameter instead of one per value: much less to build and send.
            quote = self.connection.ops.quote_name
            column = quote(model._meta.pk.column)
            sql = f"SELECT {column} FROM {quote(model._meta.db_table)} WHERE {column} = ANY(%s)"
            with self.connection.cursor() as cursor:
                cursor.execute(sql, [list(values)])
                return {row[0] for row in cursor.fetchall()}
        return set(self._manager(model).filter(pk__in=values).values_list("pk", flat=True))

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
        """{(unique key, values): pk} of the database rows holding the batch's unique values."""
        holders = {}
        for fields in table.unique_sets:
            names = [field.attname for field in fields]
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

    def _natural_keys(self, table, rows) -> dict:
        """{ManyToManySpec: {key in the file: id}} for the keys the rows link to."""
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

    # -- checks

    def _dependency_problem(self, table, values, *, exists, pending=None, deferred_too=False):
        """(outcome, message) for the first link in `values` that cannot be honoured.

        `exists(model, pk)` says whether a link's target is in the database; the links
        written last are checked against refused rows only, unless `deferred_too`.
        """
        deferred = () if deferred_too else {spec.attname for spec in table.deferred}
        for spec in table.fields:
            value = values.get(spec.attname)
            if not spec.field.is_relation or value is None:
                continue
            target = table_key(spec.field.related_model)
            refused = self.refused.get((target, value)) or (pending or {}).get((target, value))
            if refused is Outcome.SKIPPED:
                return refused, f"{spec.key} '{value}': {target} '{value}' was skipped"
            if refused is not None:
                return refused, f"{spec.key} '{value}': {target} '{value}' failed"
            if spec.attname in deferred or exists(spec.field.related_model, value):
                continue
            if target in self.excluded:
                where = f"is not in the database and {target} is excluded from this import"
            else:
                where = "exists neither in the file nor in the database"
            return Outcome.FAILED, f"{spec.key} '{value}' {where}"
        return None

    @staticmethod
    def _claim(table, row, holders, current, *, any_row=False):
        """(SKIPPED, message) when another row holds one of the row's unique values (with
        `any_row`, any row at all: the row takes a new id); else take the values for this
        row (and free the ones it gives up)."""
        claims = []
        for fields in table.unique_sets:
            names = [field.attname for field in fields]
            value = tuple(row.values.get(n) for n in names)
            if None in value:
                continue
            holder = holders.get((fields, value))
            if holder is not None and (any_row or holder != row.pk):
                return Outcome.SKIPPED, table.unique_conflict(fields, value, holder)
            claims.append((fields, names, value))
        for fields, names, value in claims:
            if current is not None:
                old = tuple(current[n] for n in names)
                if holders.get((fields, old)) == row.pk:
                    del holders[(fields, old)]
            holders[(fields, value)] = row.pk
        return None

    # -- writing

    def _write(self, table, plan: BatchPlan):
        model = table.model
        if plan.appends:
            self._insert_new(table, plan.appends)
        if plan.creates:
            self._insert(table, plan.creates)
        updates = defaultdict(list)
        for pk, values in plan.updates:
            updates[tuple(sorted(values))].append(model(pk=pk, **values))
        for names, instances in updates.items():
            self._manager(model).bulk_update(instances, list(names), batch_size=self.batch_size)
        links = defaultdict(lambda: ({}, {}))
        for spec, pk, ids, have in plan.many_to_many:
            links[spec][0][pk], links[spec][1][pk] = ids, have
        for spec, (wanted, current) in links.items():
            spec.set_links(self.using, wanted, current, batch_size=self.batch_size)

    def _insert(self, table, rows: list, *, fields=None):
        """Insert `rows` (model values): several with COPY on PostgreSQL, its bulk path;
        one with an INSERT (a replayed row, whose error then reads as the reference's)."""
        if self.connection.vendor == "postgresql" and len(rows) > 1:
            copy_rows(self.connection, table, rows, fields=fields)
        else:
            self._manager(table.model).bulk_create(
                [table.model(**values) for values in rows], batch_size=self.batch_size
            )

    def _insert_new(self, table, rows: list):
        """Insert `rows` (model values) under new ids: the database's own, or in a dry run
        on PostgreSQL the ones its sequence would give, taken without moving it."""
        pk = table.pk.attname
        rows = [{n: v for n, v in values.items() if n != pk} for values in rows]
        if self.dry_run and self.connection.vendor == "postgresql":
            if table.key not in self._sequences:
                self._sequences[table.key] = SequenceIds(self.connection, table.model)
            for values in rows:
                values[pk] = self._sequences[table.key].take()
        self._insert(table, rows, fields=table.fields if rows and pk in rows[0] else table.content)

    def set_deferred_links(self):
        """Set the links written last (cycles, self-references), now that every row is in,
        in batches; a link whose target is missing fails its row, which stays without it."""
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
            for spec in self._tables[key].deferred:
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

    def _manager(self, model):
        return model._base_manager.using(self.using)


def _decoded(table, number, raw) -> tuple:
    """(the row's id, _DECODED, the decoded row), or (its label, _UNDECODABLE, why)."""
    try:
        row = decode_row(table, raw)
    except RowError as error:
        return table.row_label(raw, number), _UNDECODABLE, str(error)
    return row.pk, _DECODED, row


def _kept(table, current, values):
    """What the table's policy makes of a row the target holds without writing it:
    (UNCHANGED, None), (SKIPPED, why); None for a row to write (or one the target lacks)."""
    if current is None:
        return None
    return table.write_policy.existing_row(table, current, values)


def _same_as_file(table, raw, current) -> bool:
    """Whether every field of `raw` is spelled as the file spells the `current` value."""
    for key, attname, encode, spec_field in row_encoders(table):
        if key not in raw:
            continue
        value = current[attname]
        if isinstance(spec_field, models.JSONField):
            if not same_value(spec_field, value, raw[key]):
                return False
        elif raw[key] != (value if value is None or encode is None else encode(value)):
            return False
    return True


def _strict_failure(table, row_id, message) -> StrictModeFailure:
    return StrictModeFailure(
        f"{table.key} {escaped(row_id)}: {one_line(message)}. The import stops at the first "
        "failed row: it was rolled back, nothing was written."
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
            for spec_field in fields:
                name = spec_field.attname
                value = values[name] if name in values else spec_field.get_default()
                if name in json_fields and value is not None:
                    value = psycopg.types.json.Jsonb(value, dumps=_json_dumps)
                record.append(value)
            copy.write_row(record)
