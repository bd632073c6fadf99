"""The Writer: every table's rows written with a few queries per batch, whatever the
database, and the database's own fast path behind a backend (backends.py).

A batch of rows of one table is first planned with no write: one query for the rows the
target holds, one per foreign key, per unique key and per many-to-many, and the plan
(plan.BatchPlan) says what each row becomes. It is then written in one savepoint: the
backend's bulk insert (COPY on PostgreSQL), bulk updates, the links. A batch the database
refuses is replayed one row at a time, so that exactly the bad rows fail, each with its
own message.

Before that walk, the backend may write a table's rows itself (PostgreSQL: a few
set-based statements, postgres.py) and hand the walk only the rows whose outcome depends
on the order of the file.
"""

import contextlib
import tempfile
from collections import defaultdict

import orjson
from django.db import DatabaseError, connections, transaction

from datatransfer import phases
from datatransfer.contents import ContentCounts, content_key, contents_held
from datatransfer.exceptions import first_line
from datatransfer.formats.rows import value_decoder
from datatransfer.locking import is_lock_timeout
from datatransfer.registry import table_key
from datatransfer.reports import Outcome, Reason, root_of
from datatransfer.writer.backends import backend_for
from datatransfer.writer.plan import (
    DECODED,
    KEPT,
    SAME,
    UNDECODABLE,
    BatchPlan,
    Lookups,
    PlannedRow,
    always,
    base_manager,
    claim,
    decoded,
    kept,
    many_to_many_ids,
    same_as_file,
    strict_failure,
)

DEFAULT_BATCH_SIZE = 1000
LINK_BATCH_SIZE = 1000


class Writer:
    """Writes the rows of each table given to `load_table`, then the links written last
    (`set_deferred_links`), following each table's write policy.

    `references` ({table key: primary keys}) are the rows the file carries only as
    references (a subset export's): created when the database lacks them, never changed
    when it has them (counted unchanged, and in `kept_references`). Keeps, across the
    import, only the ids of the refused rows that the target lacks (so that their
    dependants are refused too); the links written last wait in a temporary file.
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
        on_appended=None,
        on_updating=None,
    ):
        self.report = report
        self.using = using
        self.strict = strict
        self.excluded = excluded
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.references = references or {}
        self.kept_references = 0
        self.dry_run = dry_run
        # on_appended(table, ids): told the new ids of the rows appended, once written (the
        # undo journal's hook); None: nobody asks, and none are read back
        self.on_appended = on_appended
        # on_updating(table, ids): told the ids of rows of the target about to be updated,
        # before anything of them is written (the undo journal reads their images)
        self.on_updating = on_updating
        self.connection = connections[using]
        # {(table key, id): (SKIPPED or FAILED, the root (table key, id) of the refusal)}:
        # rows not written that the target lacks
        self.refused = {}
        self._links = tempfile.TemporaryFile()
        self._tables = {}
        self._contents = {}  # {table key: ContentCounts}: an append-only table's rows taken
        self.backend = backend_for(self.connection.vendor)(self)

    def load_table(self, table, raw_rows, on_rows=None):
        """Write the rows of `table`: what the backend writes itself, then the rest in
        batches, in file order. `on_rows(n)` is told of the rows done."""
        self.report.add_table(table.key)
        with self.backend.fast_path(table, raw_rows, on_rows) as (rows, on_walked):
            self._walk(table, rows, on_walked)

    @phases.phase("walk")
    def _walk(self, table, raw_rows, on_rows):
        """Plan and write `raw_rows` a batch at a time; a batch ends early at an id it
        already holds, so that a row repeated in the file sees its first version."""
        self._contents[table.key] = ContentCounts()
        # A table empty when its walk began holds none of the file's rows: no need to look.
        fresh = not self.manager(table.model).exists()
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
        if self.on_updating is not None:
            if updating := [row.id for row in plan.rows if row.outcome is Outcome.UPDATED]:
                self.on_updating(table, updating)
        try:
            with transaction.atomic(using=self.using):
                appended = self._write(table, plan)
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
        if appended and self.on_appended:
            self.on_appended(table, appended)
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
        message = row.message
        if row.outcome in (Outcome.SKIPPED, Outcome.FAILED):
            if row.present:  # matched by id: a match by natural key would not take it
                message = Reason(message, cause=getattr(message, "cause", None))
            else:
                self.refused[(table.key, row.id)] = (
                    row.outcome,
                    root_of(table.key, row.id, message),
                )
        self.report.record(table.key, row.outcome, row.id, message)
        if self.strict and row.outcome is Outcome.FAILED:
            raise strict_failure(table, row.id, row.message)

    def manager(self, model):
        return base_manager(model, self.using)

    # -- planning, with no write

    def _plan(self, table, batch, *, fresh) -> BatchPlan:
        """Classify each row as the reference (row by row) would, with a few queries."""
        if table.write_policy.matched_by_content:
            return self._plan_append(table, batch)
        current = {} if fresh else self._current_rows(table, batch)
        items = self._standings(table, batch, current)
        rows = [item for _, stands, item in items if stands is DECODED]
        lookups = Lookups(
            current=current,
            exists=self._existence(table, rows),
            holders=self._holders(table, rows) if current or not fresh else {},
            keys=self._natural_keys(table, rows),
            current_m2m={
                spec: spec.linked(list(current), self.using) for spec in table.many_to_many
            },
            linkable=self._linkable(table, rows),
            present=self._presence(table, batch, current, fresh),
        )
        plan = BatchPlan()
        for row_id, stands, item in items:
            problem = self._plan_row(table, plan, lookups, row_id, stands, item)
            if problem is None:
                continue
            held = lookups.present(row_id)
            if not held:
                root = root_of(table.key, row_id, problem[1])
                lookups.pending[(table.key, row_id)] = (problem[0], root)
            self._refuse(table, plan, PlannedRow(row_id, *problem, present=held))
        return plan

    def _standings(self, table, batch, current) -> list:
        """(id, how the row stands, what to check) for each row of the batch: a reference
        the target holds (kept), a row spelled exactly as the target's (same: nothing to
        decode), else the decoded row (or why it cannot be)."""
        references = self.references.get(table.key, ())
        pk_name = table.pk.attname
        items = []
        for number, raw in batch:
            known = current.get(table.row_label(raw, number))
            if known is not None and known[pk_name] in references:
                items.append((known[pk_name], KEPT, None))
            elif known is not None and not table.many_to_many and same_as_file(table, raw, known):
                items.append((known[pk_name], SAME, known))
            else:
                items.append(decoded(table, number, raw))
        return items

    def _plan_row(self, table, plan, lookups: Lookups, row_id, stands, item):
        """Add the row to `plan`; or return (outcome, message) for a row not written."""
        if stands is KEPT:
            plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED, kept=True))
            return None
        if stands is UNDECODABLE:
            return Outcome.FAILED, item
        if stands is SAME:
            problem = self._dependency_problem(table, item, exists=always, pending=lookups.pending)
            if problem is None:
                plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED))
            return problem
        return self._plan_decoded(table, plan, lookups, item)

    def _plan_decoded(self, table, plan, lookups: Lookups, row):
        """Plan a decoded row: its links, what its policy makes of the target's row, its
        unique values, then what to write."""
        known = lookups.current.get(row.pk)
        problem = self._dependency_problem(
            table, row.values, exists=lookups.exists, pending=lookups.pending
        )
        as_held = kept(table, known, row.values) if problem is None else None
        if as_held is not None and as_held[0] is Outcome.UNCHANGED:
            plan.rows.append(PlannedRow(row.pk, Outcome.UNCHANGED))
            return None
        problem = (
            problem
            or as_held
            or claim(table, row, lookups.holders, known)
            or self._classify(table, row, plan, known, lookups)
        )
        if problem is None and table.model in lookups.linkable.models:
            lookups.linkable.written.add(row.pk)
        return problem

    def _refuse(self, table, plan, row: PlannedRow):
        plan.rows.append(row)
        if self.strict and row.outcome is Outcome.FAILED:
            raise strict_failure(table, row.id, row.message)

    def _plan_append(self, table, batch) -> BatchPlan:
        """Classify the rows of an append-only table: unchanged when the target holds more
        rows of their content than the file's earlier rows of that content took (those
        this import appended included: contents.py, a multiset), else appended; one query
        for the links, one for the content, one per unique key."""
        items = [decoded(table, number, raw) for number, raw in batch]
        rows = [item for _, stands, item in items if stands is DECODED]
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
            if stands is UNDECODABLE:
                problem = Outcome.FAILED, row
            else:
                problem = self._dependency_problem(table, row.values, exists=exists)
            key = keys.get(id(row))
            if problem is None and plan.contents.matches(key, held.get(key, 0)):
                plan.contents.take(key)
                plan.rows.append(PlannedRow(row_id, Outcome.UNCHANGED))
                continue
            problem = problem or self._appendable(table, row, holders)
            if problem is None:
                held[key] = held.get(key, 0) + 1  # the target holds it once written
                plan.contents.take(key)
                plan.appends.append(row.values)
                plan.rows.append(PlannedRow(row_id, Outcome.APPENDED))
                continue
            self._refuse(table, plan, PlannedRow(row_id, *problem))
        return plan

    @staticmethod
    def _appendable(table, row, holders):
        """None when the row can be appended under a new id; else (outcome, why)."""
        if problem := claim(table, row, holders, None, any_row=True):
            return problem
        if message := table.missing_required(row.values):
            return Outcome.FAILED, message
        return None

    def _classify(self, table, row, plan, current, lookups: Lookups):
        """Add to `plan` what to write for `row`, and its outcome; or return (outcome,
        message) for a row that cannot be written."""
        wanted, problem = many_to_many_ids(table, row, lookups.keys)
        if problem:
            return problem
        # A deferred link whose target is already in (the usual case for a chain of rows
        # in file order) is written with the row; the others wait for the end.
        later = {
            spec.attname
            for spec in table.deferred
            if row.values.get(spec.attname) is not None
            and not lookups.linkable(spec.attname, row.values[spec.attname])
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
        outcome = self._plan_links(plan, row, current, wanted, lookups, outcome)
        if links:
            plan.deferred.append((row.pk, outcome, links))
        plan.rows.append(PlannedRow(row.pk, outcome))
        return None

    @staticmethod
    def _plan_links(plan, row, current, wanted, lookups: Lookups, outcome) -> Outcome:
        """Plan the row's many-to-many links that change; a row whose links only changed
        is updated."""
        for spec, ids in wanted.items():
            have = lookups.current_m2m[spec].get(row.pk, [])
            if current is None or have != ids:
                plan.many_to_many.append((spec, row.pk, ids, have))
                if outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
        return outcome

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
            for values in self.manager(table.model).filter(pk__in=pks).values(*attnames)
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
                found = self.backend.existing(table.model, pks - {None})
            return pk in found

        return present

    def _present(self, table, row_id) -> bool:
        """Whether the target holds a row with the id `row_id` (as the file spells it)."""
        try:
            pk = value_decoder(table.pk.field)(row_id)
        except (ValueError, TypeError, OverflowError):
            return False
        return bool(self.backend.existing(table.model, {pk}))

    def _existence(self, table, rows):
        """exists(model, pk) for the targets of the rows' links, with one query per link."""
        wanted = defaultdict(set)
        deferred = {s.attname for s in table.deferred}
        for spec in table.fields:
            if spec.field.is_relation and spec.attname not in deferred:
                wanted[spec.field.related_model].update(
                    r.values[spec.attname] for r in rows if r.values.get(spec.attname) is not None
                )
        present = {model: self.backend.existing(model, values) for model, values in wanted.items()}
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
            present[spec.attname] = (model, self.backend.existing(model, values))

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
                self.manager(table.model)
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
                    self.manager(spec.related_model)
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
            if refused is not None:
                outcome, root = refused
                verb = "was skipped" if outcome is Outcome.SKIPPED else "failed"
                return outcome, Reason(
                    f"{spec.key} '{value}': {target} '{value}' {verb}", cause=root
                )
            if spec.attname in deferred or exists(spec.field.related_model, value):
                continue
            if target in self.excluded:
                where = f"is not in the database and {target} is excluded from this import"
            else:
                where = "exists neither in the file nor in the database"
            return Outcome.FAILED, f"{spec.key} '{value}' {where}"
        return None

    # -- writing

    def _write(self, table, plan: BatchPlan) -> list:
        """Write the batch's plan; return the new ids of the rows appended, when asked."""
        model = table.model
        appended = self._insert_new(table, plan.appends) if plan.appends else []
        if plan.creates:
            self.backend.insert(table, plan.creates)
        updates = defaultdict(list)
        for pk, values in plan.updates:
            updates[tuple(sorted(values))].append(model(pk=pk, **values))
        for names, instances in updates.items():
            self.manager(model).bulk_update(instances, list(names), batch_size=self.batch_size)
        links = defaultdict(lambda: ({}, {}))
        for spec, pk, ids, have in plan.many_to_many:
            links[spec][0][pk], links[spec][1][pk] = ids, have
        for spec, (wanted, current) in links.items():
            spec.set_links(self.using, wanted, current, batch_size=self.batch_size)
        return appended

    def _insert_new(self, table, rows: list) -> list:
        """Insert `rows` (model values) under new ids: the database's own, or those the
        backend gives (in a dry run on PostgreSQL, the ones the sequence would give).
        Return their ids when `on_appended` asks for them (else an empty list)."""
        pk = table.pk.attname
        rows = self.backend.new_ids(table, [{n: v for n, v in r.items() if n != pk} for r in rows])
        given = bool(rows) and pk in rows[0]
        fields = table.fields if given else table.content
        ids = self.backend.insert(table, rows, fields=fields)
        if self.on_appended is None:
            return []
        return [r[pk] for r in rows] if given else list(ids or ())

    def set_deferred_links(self):
        """Set the links written last (cycles, self-references), now that every row is in,
        in batches; a row whose link's target is missing stays without it (left empty, or
        as the target had it), reported unlinked."""
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
        present = {model: self.backend.existing(model, values) for model, values in targets.items()}
        updates = defaultdict(list)
        for key, pk, outcome, links in batch:
            table = self._tables[key]
            problem = self._dependency_problem(
                table, links, deferred_too=True, exists=lambda model, value: value in present[model]
            )
            if problem:
                # The row itself is in the database (rows that link to it keep their link):
                # it keeps its outcome, flagged as written without this link.
                message = unlinked_reason(problem[1], Outcome(outcome))
                self.report.record_unlinked(table.key, pk, message)
                if self.strict:
                    raise strict_failure(table, pk, message)
                continue
            updates[(key, tuple(sorted(links)))].append(table.model(pk=pk, **links))
        for (key, names), instances in updates.items():
            self.manager(self._tables[key].model).bulk_update(
                instances, list(names), batch_size=self.batch_size
            )


def unlinked_reason(problem, outcome: Outcome) -> Reason:
    """Why a row written with the outcome `outcome` lacks a link: `problem` (the link's
    own Reason), and what the row holds instead."""
    left = "left empty" if outcome is Outcome.CREATED else "left as the target had it"
    return Reason(
        f"{problem}: the row was written with this link {left}",
        cause=getattr(problem, "cause", None),
    )
