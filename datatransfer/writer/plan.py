"""What a batch of rows becomes, decided with no write: the typed plan (`BatchPlan`), each
row's outcome (`PlannedRow`), and the steps of planning that need no query.

Kept apart from the Writer so that the steps that only look at a row (how it stands, what
its table's policy makes of it, which unique values it claims) read on their own.
"""

from dataclasses import dataclass, field

from django.db import models

from datatransfer.contents import ContentCounts
from datatransfer.exceptions import StrictModeFailure, escaped, one_line
from datatransfer.formats.rows import RowError, decode_row, row_encoders
from datatransfer.registry import ManyToManySpec, same_value, table_key
from datatransfer.reports import Outcome

# How a row of a batch stands before its checks (see Writer._plan).
KEPT, SAME, UNDECODABLE, DECODED = "kept", "same", "undecodable", "decoded"


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


@dataclass
class Lookups:
    """What the planning of one batch read from the target, a few queries for all its rows
    (see the Writer's lookups), and the batch's rows refused so far."""

    current: dict  # {pk: values} of the batch's rows the target holds
    exists: object  # exists(model, pk): a link's target is in the database
    holders: dict  # {(unique key, values): pk}
    keys: dict  # {ManyToManySpec: {key in the file: id}}
    current_m2m: dict  # {ManyToManySpec: {pk: ids}}
    linkable: object  # linkable(attname, pk): a deferred link's target is there already
    present: object  # present(row id): the target holds the id of a row not written
    # {(table key, id): outcome} of this batch's rows not written that the target lacks
    pending: dict = field(default_factory=dict)


def always(model, value) -> bool:
    """exists() for rows spelled exactly as the target's: their links are there."""
    return True


def decoded(table, number, raw) -> tuple:
    """(the row's id, DECODED, the decoded row), or (its label, UNDECODABLE, why)."""
    try:
        row = decode_row(table, raw)
    except RowError as error:
        return table.row_label(raw, number), UNDECODABLE, str(error)
    return row.pk, DECODED, row


def kept(table, current, values):
    """What the table's policy makes of a row the target holds without writing it:
    (UNCHANGED, None), (SKIPPED, why); None for a row to write (or one the target lacks)."""
    if current is None:
        return None
    return table.write_policy.existing_row(table, current, values)


def same_as_file(table, raw, current) -> bool:
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


def claim(table, row, holders, current, *, any_row=False):
    """(SKIPPED, message) when another row holds one of the row's unique values (with
    `any_row`, any row at all: the row takes a new id); else take the values for this row
    (and free the ones it gives up)."""
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


def many_to_many_ids(table, row, keys) -> tuple[dict, tuple | None]:
    """({ManyToManySpec: sorted ids} of the row's links, from the keys in the file and
    `keys`, their ids), or ({}, (FAILED, why)) for a key that names no row."""
    wanted = {}
    for spec in table.many_to_many:
        if spec.key not in row.many_to_many:
            continue
        names = row.many_to_many[spec.key]
        if missing := [k for k in names if k not in keys[spec]]:
            return {}, (
                Outcome.FAILED,
                f"{spec.key} {', '.join(repr(k) for k in missing)}: no such "
                f"{table_key(spec.related_model)} in the file or the database",
            )
        wanted[spec] = sorted(keys[spec][k] for k in names)
    return wanted, None


def strict_failure(table, row_id, message) -> StrictModeFailure:
    """The error that stops a strict import at its first failed row."""
    return StrictModeFailure(
        f"{table.key} {escaped(row_id)}: {one_line(message)}. The import stops at the first "
        "failed row: it was rolled back, nothing was written."
    )


def base_manager(model, using: str):
    """The model's plain manager on `using`: every row, whatever the default manager hides."""
    return model._base_manager.using(using)
