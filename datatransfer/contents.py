"""Rows of append-only tables are matched by content, not by id (registry.py): their ids
are each database's own numbering, so the same number means another event elsewhere.

A row's content is every field but the key, as the database keeps it: times cut to the
column's precision (a field's `precision`, in fractional digits), JSON in a canonical
spelling, its whole numbers as integers (PostgreSQL's jsonb gives 1e2 back as 100).
The lookup takes one query for a whole batch of rows: the target's rows that share the
values of the batch's most varied column (its creation times, usually: nearly a unique
key), compared by content in Python.

Rows are a multiset, not a set: the same action by the same user in the same millisecond
is two events, two identical rows. So n rows of one content in the file are n rows in the
target: the target's own rows of that content stand for the first ones, and only those
beyond them are appended (n - k when the target holds k < n; none when k >= n, so that a
second import of the file adds nothing). `ContentCounts` keeps, while a table is read,
how many of its file rows of each content were taken (matched or appended) so far.
"""

import hashlib
from collections import Counter
from decimal import Decimal

from django.db import models
from django.db.models import Q

from datatransfer.manifest import canonical_json

_NORMALIZERS = {}


def _whole_numbers(value):
    """A JSON value with its whole floats as integers, by decimal value (4.3e16 is
    43000000000000000, not the float's binary value)."""
    if isinstance(value, float) and value.is_integer():
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _json(value) -> bytes:
    return canonical_json(_whole_numbers(value))


def _normalizer(field):
    """The function turning a non-null value of `field` into what the database keeps, or
    None when that is the value itself."""
    if isinstance(field, models.JSONField):
        return _json
    precision = getattr(field, "precision", None)
    if isinstance(field, models.DateTimeField) and precision is not None and precision < 6:
        step = 10 ** (6 - precision)
        return lambda value: value.replace(microsecond=value.microsecond - value.microsecond % step)
    return None


def _normalizers(table) -> tuple:
    found = _NORMALIZERS.get(table.model)
    if found is None:
        found = _NORMALIZERS[table.model] = tuple(
            (spec.attname, _normalizer(spec.field)) for spec in table.content
        )
    return found


def content_key(table, values: dict) -> tuple:
    """The content of a row (model values by attribute name) as a hashable key: equal
    keys, the same event. A field the row lacks counts as null."""
    key = []
    for attname, normalize in _normalizers(table):
        value = values.get(attname)
        key.append(value if value is None or normalize is None else normalize(value))
    return tuple(key)


def _narrowest_filter(table, rows) -> Q:
    """The filter on the column where `rows` have the most distinct values (JSON aside)."""
    narrowest, query = 0, Q()
    for spec in table.content:
        if isinstance(spec.field, models.JSONField):
            continue
        values = {values.get(spec.attname) for values in rows}
        if len(values) > narrowest:
            narrowest = len(values)
            query = Q(**{f"{spec.attname}__in": values - {None}})
            if None in values:
                query |= Q(**{f"{spec.attname}__isnull": True})
    return query


def contents_held(table, rows: list, wanted: set, *, using) -> dict:
    """{content key: [pks]} of the target's rows whose content is one of `wanted`, the
    content keys of `rows` (model values by attribute name), with one query."""
    if not rows:
        return {}
    attnames = [spec.attname for spec in table.content]
    held = {}
    candidates = table.model._base_manager.using(using).filter(_narrowest_filter(table, rows))
    for values in candidates.values("pk", *attnames).iterator():
        key = content_key(table, values)
        if key in wanted:
            held.setdefault(key, []).append(values["pk"])
    return held


def _digest(key: tuple) -> bytes:
    """16 bytes standing for a content key: a table's events may be long, their count is
    what is kept. The key's values are of the column's own type, whose repr is exact."""
    return hashlib.blake2b(repr(key).encode("utf-8", "backslashreplace"), digest_size=16).digest()


class ContentCounts:
    """How many of one table's file rows of each content were taken so far, matched with a
    row of the target or appended: the next one of that content is the target's row when
    the target holds more rows of that content than were taken (`matches`), else new.

    With a `base`, the counts of one batch on top of the table's so far: added to the base
    (`base.add(batch)`) once the batch is written, forgotten if it is not."""

    def __init__(self, base: "ContentCounts | None" = None):
        self._taken = Counter()
        self._base = base

    def taken(self, key: tuple) -> int:
        digest = _digest(key)
        return self._taken[digest] + (self._base._taken[digest] if self._base else 0)

    def matches(self, key: tuple, held: int) -> bool:
        """Whether the next file row of content `key` is one of the target's `held` rows of
        that content (those appended by this import included)."""
        return self.taken(key) < held

    def take(self, key: tuple, count: int = 1) -> None:
        self._taken[_digest(key)] += count

    def add(self, batch: "ContentCounts") -> None:
        """Take what `batch` took on top of these counts (once the batch is written)."""
        self._taken.update(batch._taken)
