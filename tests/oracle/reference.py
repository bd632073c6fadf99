"""The oracle of the writer: every row on its own, as `update_or_create` would write it.

Plain on purpose: one row at a time, each in its own savepoint, every fact read from the
database when it is needed. The Writer (datatransfer/writer/) must give exactly its
outcomes on every backend (tests/integration/datatransfer/test_engines.py); the two share only the
table specs of the registry (unique keys, required fields, changed values, write policies,
link tables), the file's row codec, the append-only content match and the strict mode's
error.
"""

from django.db import DatabaseError, connections, transaction

from datatransfer.contents import ContentCounts, content_key, contents_held
from datatransfer.exceptions import first_line
from datatransfer.formats.rows import RowError, decode_row, value_decoder
from datatransfer.locking import is_lock_timeout
from datatransfer.registry import table_key
from datatransfer.reports import Outcome, Reason
from datatransfer.sequences import SequenceIds
from datatransfer.writer.plan import base_manager, strict_failure


class Refused(Exception):
    """A row that is not written: its outcome (skipped or failed) and why."""

    def __init__(self, outcome: Outcome, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


class ReferenceWriter:
    """Writes rows one at a time with `update_or_create` semantics.

    `references` ({table key: primary keys}) are the rows the file carries only as
    references (a subset export's): created when the database lacks them, never changed
    when it has them (counted unchanged, and in `kept_references`). `batch_size` is
    accepted for the Writer's sake, and unused.
    """

    def __init__(
        self,
        report,
        *,
        using,
        strict,
        excluded,
        batch_size=None,
        references=None,
        dry_run=False,
        on_appended=None,  # the undo journal's hook: the oracle does not tell the new ids
        on_updating=None,  # the undo journal's: told of each row of the target it may update
    ):
        self.report, self.using, self.connection = report, using, connections[using]
        self.on_updating = on_updating
        self.strict, self.excluded, self.dry_run = strict, excluded, dry_run
        self.references = references or {}
        self.kept_references = 0
        # {(table key, id): (SKIPPED or FAILED, the root (table key, id) it follows from)}:
        # rows not written that the target lacks, so that the rows linking to them cannot
        # come in either
        self.refused = {}
        self.deferred = []  # (table, pk, outcome, {attname: id}): the links written last
        self.sequences = {}
        self.contents = {}  # {table key: ContentCounts}: an append-only table's rows taken

    def load_table(self, table, raw_rows, on_rows=None):
        self.report.add_table(table.key)
        self.contents[table.key] = ContentCounts()
        for number, raw in enumerate(raw_rows, start=1):
            self.load_row(table, raw, number)
            if on_rows and number % 100 == 0:
                on_rows(100)

    def load_row(self, table, raw, number):
        row_id = table.row_label(raw, number)
        try:
            row = decode_row(table, raw)
            row_id = row.pk
            with transaction.atomic(using=self.using):
                write = self._append if table.write_policy.matched_by_content else self._upsert
                outcome = write(table, row)
        except Refused as refusal:
            self._refuse(table, row_id, refusal.outcome, refusal.message)
        except RowError as error:
            self._refuse(table, row_id, Outcome.FAILED, str(error))
        except (DatabaseError, ValueError, TypeError) as error:
            if is_lock_timeout(error):
                raise  # the whole import gives up (importer.py), not this row
            message = f"could not be written: {first_line(error)}"
            self._refuse(table, row_id, Outcome.FAILED, message)
        else:
            self.report.record(table.key, outcome, row_id)

    def _upsert(self, table, row) -> Outcome:
        manager = self._manager(table.model)
        if row.pk in self.references.get(table.key, ()) and manager.filter(pk=row.pk).exists():
            self.kept_references += 1  # a reference the database has: left as it is
            return Outcome.UNCHANGED
        self._check_links(table, row.values)
        current = manager.filter(pk=row.pk).values(*(s.attname for s in table.fields)).first()
        if current is not None and (
            kept := table.write_policy.existing_row(table, current, row.values)
        ):
            outcome, message = kept
            if outcome is Outcome.UNCHANGED:
                return outcome  # left as it is: the policy does not update it
            raise Refused(outcome, message)
        self._check_unique(table, row.values, other_than=row.pk)
        many_to_many = self._many_to_many_ids(table, row)
        if current is None:
            outcome, links = self._create(table, row)
        else:
            if self.on_updating is not None:
                self.on_updating(table, [row.pk])
            outcome, links = self._update(table, row, current)
        outcome = self._set_many_to_many(row, current, many_to_many, outcome)
        if links:
            self.deferred.append((table, row.pk, outcome, links))
        return outcome

    def _create(self, table, row) -> tuple[Outcome, dict]:
        """Insert the row the target lacks, without its links written last; return
        (CREATED, those links)."""
        if message := table.missing_required(row.values):
            raise Refused(Outcome.FAILED, message)
        deferred = {spec.attname for spec in table.deferred}
        columns = {name: value for name, value in row.values.items() if name not in deferred}
        table.model(**columns).save_base(raw=True, force_insert=True, using=self.using)
        links = {n: v for n, v in row.values.items() if n in deferred and v is not None}
        return Outcome.CREATED, links

    def _update(self, table, row, current) -> tuple[Outcome, dict]:
        """Update the values that changed, but the links written last; return (UPDATED or
        UNCHANGED, the changed links written last)."""
        deferred = {spec.attname for spec in table.deferred}
        changed = table.changed_values(current, row.values)
        if columns := {name: value for name, value in changed.items() if name not in deferred}:
            self._manager(table.model).filter(pk=row.pk).update(**columns)
        links = {name: value for name, value in changed.items() if name in deferred}
        return (Outcome.UPDATED if changed else Outcome.UNCHANGED), links

    def _set_many_to_many(self, row, current, many_to_many, outcome) -> Outcome:
        """Set the row's many-to-many links that differ; a row whose links changed is
        updated."""
        for spec, ids in many_to_many.items():
            have = [] if current is None else spec.linked([row.pk], self.using).get(row.pk, [])
            if current is None or have != ids:
                spec.set_links(self.using, {row.pk: ids}, {row.pk: have})
                if outcome is Outcome.UNCHANGED:
                    outcome = Outcome.UPDATED
        return outcome

    def _append(self, table, row) -> Outcome:
        """Append `row` under a new id unless the target holds more rows of its content
        than the file's earlier rows of that content took (contents.py: a multiset)."""
        self._check_links(table, row.values)
        key = content_key(table, row.values)
        counts = self.contents[table.key]
        held = contents_held(table, [row.values], {key}, using=self.using).get(key, [])
        if counts.matches(key, len(held)):
            counts.take(key)
            return Outcome.UNCHANGED
        self._check_unique(table, row.values)
        if message := table.missing_required(row.values):
            raise Refused(Outcome.FAILED, message)
        values = {name: value for name, value in row.values.items() if name != table.pk.attname}
        if self.dry_run and self.connection.vendor == "postgresql":
            if table.key not in self.sequences:
                self.sequences[table.key] = SequenceIds(self.connection, table.model)
            values[table.pk.attname] = self.sequences[table.key].take()
        table.model(**values).save_base(raw=True, force_insert=True, using=self.using)
        counts.take(key)
        return Outcome.APPENDED

    # -- checks: each raises Refused

    def _check_links(self, table, values):
        if problem := self._link_problem(table, values):
            raise Refused(*problem)

    def _link_problem(self, table, values, *, deferred_too=False):
        """(outcome, message) for the first link in `values` that cannot be honoured, else
        None. A link written last is checked against refused rows only, unless
        `deferred_too` (its target may come later in the file)."""
        deferred = {spec.attname for spec in table.deferred}
        for spec in table.fields:
            value = values.get(spec.attname)
            if not spec.field.is_relation or value is None:
                continue
            target = table_key(spec.field.related_model)
            refused = self.refused.get((target, value))
            if refused is not None:
                outcome, root = refused
                verb = "was skipped" if outcome is Outcome.SKIPPED else "failed"
                return outcome, Reason(
                    f"{spec.key} '{value}': {target} '{value}' {verb}", cause=root
                )
            checked = deferred_too or spec.attname not in deferred
            if checked and not self._manager(spec.field.related_model).filter(pk=value).exists():
                where = (
                    f"is not in the database and {target} is excluded from this import"
                    if target in self.excluded
                    else "exists neither in the file nor in the database"
                )
                return Outcome.FAILED, f"{spec.key} '{value}' {where}"
        return None

    def _check_unique(self, table, values, *, other_than=None):
        """Refuse the row when another row of the target (any row, without `other_than`)
        holds one of its unique values."""
        for fields in table.unique_sets:
            lookup = {field.attname: values.get(field.attname) for field in fields}
            if None in lookup.values():
                continue
            others = self._manager(table.model).filter(**lookup)
            if other_than is not None:
                others = others.exclude(pk=other_than)
            holder = others.values_list("pk", flat=True).first()
            if holder is not None:
                message = table.unique_conflict(fields, lookup.values(), holder)
                raise Refused(Outcome.SKIPPED, message)

    def _many_to_many_ids(self, table, row) -> dict:
        """{ManyToManySpec: sorted ids} of the row's links, from the keys in the file."""
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
            if missing := [key for key in keys if key not in found]:
                raise Refused(
                    Outcome.FAILED,
                    f"{spec.key} {', '.join(repr(k) for k in missing)}: no such "
                    f"{table_key(spec.related_model)} in the file or the database",
                )
            resolved[spec] = sorted(found[key] for key in keys)
        return resolved

    # -- outcomes

    def _refuse(self, table, row_id, outcome, message):
        """Record a row that is not written. Unless the target holds its id, the rows that
        link to it are refused too, naming the same root: the first row refused."""
        cause = getattr(message, "cause", None)
        if table.write_policy.matched_by_content or not self._holds_id(table, row_id):
            self.refused[(table.key, row_id)] = (outcome, cause or (table.key, str(row_id)))
        else:  # the target holds its id: no match by natural key would take it
            message = Reason(message, cause=cause)
        self.report.record(table.key, outcome, row_id, message)
        if self.strict and outcome is Outcome.FAILED:
            raise strict_failure(table, row_id, message)

    def _holds_id(self, table, row_id) -> bool:
        """Whether the target holds a row with the id `row_id` (as the file spells it)."""
        try:
            pk = value_decoder(table.pk.field)(row_id)
        except (ValueError, TypeError, OverflowError):
            return False
        return self._manager(table.model).filter(pk=pk).exists()

    def _manager(self, model):
        return base_manager(model, self.using)

    def set_deferred_links(self):
        """Set the links written last (cycles, self-references), now that every row is in;
        a row whose link's target is missing keeps its outcome and stays without the link
        (empty, or the target's), reported unlinked."""
        for table, pk, outcome, links in self.deferred:
            problem = self._link_problem(table, links, deferred_too=True)
            if problem is None:
                self._manager(table.model).filter(pk=pk).update(**links)
                continue
            left = "left empty" if outcome is Outcome.CREATED else "left as the target had it"
            message = Reason(
                f"{problem[1]}: the row was written with this link {left}",
                cause=getattr(problem[1], "cause", None),
            )
            self.report.record_unlinked(table.key, pk, message)
            if self.strict:
                raise strict_failure(table, pk, message)
        self.deferred = []
