"""Rows of append-only tables are matched by content, not by id (registry.py): their ids
are each database's own numbering, so the same number means another event elsewhere.

A row's content is every field but the key, as the database stores it (times cut to the
column's precision, JSON in a canonical spelling). The lookup takes one query for a whole
batch of rows: the target's rows that share the values of the batch's most varied column
(its creation times, usually: as good as a unique key), compared by content in Python.
"""

from django.db import models
from django.db.models import Q

from datatransfer.manifest import canonical_json


def _comparable(field, value, connection):
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return canonical_json(value)
    return field.get_db_prep_value(value, connection, prepared=False)


def content_key(table, values: dict, connection) -> tuple:
    """The content of a row (model values by attribute name) as a hashable key: equal
    keys, the same event. A field the row lacks counts as null."""
    return tuple(
        _comparable(spec.field, values.get(spec.attname), connection) for spec in table.content
    )


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


def contents_held(table, rows: list, *, using, connection) -> dict:
    """{content key: [pks]} of the target's rows whose content is that of one of `rows`
    (model values by attribute name), with one query."""
    if not rows:
        return {}
    wanted = {content_key(table, values, connection) for values in rows}
    attnames = [spec.attname for spec in table.content]
    held = {}
    candidates = table.model._base_manager.using(using).filter(_narrowest_filter(table, rows))
    for values in candidates.values("pk", *attnames).iterator():
        key = content_key(table, values, connection)
        if key in wanted:
            held.setdefault(key, []).append(values["pk"])
    return held
