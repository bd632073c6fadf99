"""Subset exports: the rows that belong to some root rows (organizations), plus the rows
they reference, so the file loads on its own into an empty database.

A referenced row that does not belong to the roots (another organization's, or a shared
one such as a permission) is a *reference*: it is in the file only so that links resolve.
It carries what it needs to load and nothing more: its secrets are written empty, its
optional links to rows outside the file are written null, its many-to-many links empty;
only its required links are followed in turn. The file lists the references
(`metadata.references`), and the import creates them when the target lacks them but never
changes them when it has them.

The root table is the model declaring a `subset_root` (Organization, by `slug`: see
datatransfer/declarations.py); everything else is derived from the models' links
(`graph.relations`), so a new model with a foreign-key path to an organization joins the
subset without a change here.
"""

import json
from dataclasses import dataclass

from django.db import connections
from django.db.models.expressions import RawSQL

from datatransfer.databases import open_connection
from datatransfer.exceptions import DataTransferError
from datatransfer.graph import relations
from datatransfer.registry import (
    domain_tables,
    subset_root_table,
    table_key,
    travelling_through,
)
from datatransfer.routers import domain_database

# Ids per query while collecting; below the parameter limits of every backend.
CHUNK_SIZE = 500
# Above this many ids, the final filter passes them as one array parameter, not one each.
INLINE_LIMIT = 500


def _chunks(values, size=CHUNK_SIZE):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _links(table, by_model):
    """The table's links to other domain tables: (field, target TableSpec)."""
    return [
        (field, by_model[target])
        for field, target in relations(table.model)
        if target in by_model and (not field.many_to_many or travelling_through(field))
    ]


def _manager(table, using):
    return table.model._base_manager.using(using)


def _linked(table, field, ids, using, *, down: bool) -> set:
    """Primary keys across `field` of `table` from `ids`: down, the rows of `table` whose
    `field` points to one of `ids`; up, the rows that `field` of `table`'s rows `ids`
    points to."""
    found = set()
    for chunk in _chunks(ids):
        if field.many_to_many:
            through = travelling_through(field)
            own, other = field.m2m_field_name(), field.m2m_reverse_field_name()
            given, wanted = (other, own) if down else (own, other)
            rows = through._base_manager.using(using).filter(**{f"{given}_id__in": chunk})
            found.update(rows.values_list(f"{wanted}_id", flat=True))
            continue
        target = field.attname if field.target_field.primary_key else f"{field.name}__pk"
        rows = _manager(table, using)
        if down:
            rows = rows.filter(**{f"{target}__in": chunk}).values_list("pk", flat=True)
        else:
            rows = rows.filter(pk__in=chunk).exclude(**{f"{field.attname}__isnull": True})
            rows = rows.values_list(target, flat=True)
        found.update(rows)
    found.discard(None)
    return found


@dataclass
class Subset:
    """What a subset export writes: `rows` {table key: primary keys}, of which `own` belong
    to the roots (the others are references), and `belongs`, the keys of the tables that
    have a path to the roots' table (whose rows belong to the roots, even when there are
    none)."""

    rows: dict
    own: dict
    belongs: set

    def references(self, key: str) -> set:
        """The primary keys of `key`'s rows that are in the file only as references."""
        return self.rows.get(key, set()) - self.own.get(key, set())


def _needed_links(table, by_model, *, own: bool):
    """The links to follow up from `table`'s rows: every one from rows of the roots (their
    data goes whole), only the required foreign keys from references (what a row needs to
    be inserted at all)."""
    return [
        (field, target)
        for field, target in _links(table, by_model)
        if own or not (field.many_to_many or field.null)
    ]


def collect_subset(root_model, root_ids, *, using=None, narrow=None) -> Subset:
    """Return the Subset of the rows of `root_ids` (rows of `root_model`).

    1. Down: a row belongs to the roots when one of its links points to a row that does,
       table after table in dependency order. The links set last (a cycle's nullable side,
       a self-reference) are not followed down: a block would pull in every later block,
       an owner every organization they own.
    2. `narrow(table, ids)`, when given, keeps some of each table's rows of the roots (the
       rows changed since a time: changes.py); the others are left out, unless needed.
    3. Up (with_references): every row a row of the roots points to is added as a
       reference, until nothing new comes, so the file loads on its own.
    """
    using = using or domain_database()
    tables = domain_tables()
    by_model = {table.model: table for table in tables}
    if root_model not in by_model:
        raise DataTransferError(f"{root_model._meta.label} is not a domain table.")
    root = by_model[root_model]
    rows = {table.key: set() for table in tables}
    rows[root.key] = set(root_ids)
    belongs = {root.key}
    for table in tables:
        if table is root:
            continue
        deferred = {spec.field for spec in table.deferred}
        for field, target in _links(table, by_model):
            if target.key in belongs and field not in deferred:
                belongs.add(table.key)
                if rows[target.key]:
                    rows[table.key] |= _linked(table, field, rows[target.key], using, down=True)
    if narrow is not None:
        rows = {table.key: narrow(table, rows[table.key]) for table in tables}
    return with_references(rows, belongs, using=using)


def with_references(own: dict, belongs: set, *, using) -> Subset:
    """The Subset of the rows `own` ({table key: primary keys}) and every row they need:
    every row an own row points to, over every link (the ones set last and many-to-manys
    too), is added as a reference; from a reference, only its required links are followed
    in turn; until nothing new comes. `belongs`: the tables written even when empty."""
    tables = domain_tables()
    by_model = {table.model: table for table in tables}
    by_key = {table.key: table for table in tables}
    own = {table.key: set(own.get(table.key, ())) for table in tables}
    rows = {key: set(ids) for key, ids in own.items()}
    pending = [(key, set(ids), True) for key, ids in rows.items() if ids]
    while pending:
        key, ids, are_own = pending.pop()
        table = by_key[key]
        for field, target in _needed_links(table, by_model, own=are_own):
            new = _linked(table, field, ids, using, down=False) - rows[target.key]
            if new:
                rows[target.key] |= new
                pending.append((target.key, new, False))
    return Subset(rows=rows, own=own, belongs=set(belongs))


def filter_pk_in(queryset, ids):
    """`queryset` narrowed to the primary keys `ids`, however many: past INLINE_LIMIT they
    travel as one array (PostgreSQL) or JSON (SQLite) parameter, as both cap the number of
    parameters per query."""
    ids = sorted(ids)
    if not ids:
        return queryset.none()
    vendor = connections[queryset.db].vendor
    if len(ids) <= INLINE_LIMIT or vendor not in ("postgresql", "sqlite"):
        return queryset.filter(pk__in=ids)
    if vendor == "postgresql":
        array = "bigint[]" if isinstance(ids[0], int) else "text[]"
        return queryset.filter(pk__in=RawSQL(f"SELECT unnest(%s::{array})", [ids]))
    return queryset.filter(pk__in=RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ids)]))


class CollectedScope:
    """A `scope` for `export_domain` whose rows are a Subset, collected on the first call,
    inside the exporter's transaction, so they come from the same snapshot as the rows
    written (`_collect()` says which). A table that the Subset neither `belongs` to nor
    needs a row of is left out of the file. The exporter asks `references(table)` which
    rows to write `as_reference`, and adds `metadata()` to the file's.
    """

    def __init__(self, *, using=None):
        self.using = using or domain_database()
        self.subset = None

    def _collect(self) -> Subset:
        raise NotImplementedError

    def collect(self) -> Subset:
        """The Subset, collected once (call it inside the export's transaction)."""
        if self.subset is None:
            self.subset = self._collect()
        return self.subset

    def __call__(self, table, queryset):
        subset = self.collect()
        if table.key not in subset.belongs and not subset.rows.get(table.key):
            return None
        return filter_pk_in(queryset, subset.rows.get(table.key, ()))

    def references(self, table) -> set:
        return self.collect().references(table.key)

    def as_reference(self, table, values: dict, many_to_many: dict | None):
        """A reference row's values with its optional links to rows outside the file set
        to None, and its many-to-many links empty: only what it needs to load."""
        rows = self.collect().rows
        values = dict(values)
        for spec in table.fields:
            field = spec.field
            if field.is_relation and field.null and values[spec.attname] is not None:
                if values[spec.attname] not in rows.get(table_key(field.related_model), ()):
                    values[spec.attname] = None
        return values, dict.fromkeys(many_to_many or {}, [])

    def metadata(self) -> dict:
        """What the file's metadata says of the subset: the rows that are in it only as
        references ({table key: sorted ids})."""
        subset = self.collect()
        references = {key: sorted(subset.references(key)) for key in subset.rows}
        return {"references": {key: ids for key, ids in references.items() if ids}}


class OrganizationScope(CollectedScope):
    """The subset of some organizations (`organizations`: slug -> id): their rows, and
    the rows those need as references. Tables without a path to an organization and
    without a referenced row are left out of the file."""

    def __init__(self, organizations: dict, *, using=None):
        super().__init__(using=using)
        self.organizations = organizations  # slug -> id

    @property
    def slugs(self) -> list[str]:
        return sorted(self.organizations)

    def _collect(self) -> Subset:
        root = subset_root_table()
        return collect_subset(root.model, self.organizations.values(), using=self.using)

    def metadata(self) -> dict:
        """The organizations' slugs, and the references (CollectedScope.metadata)."""
        return {"organizations": self.slugs, **super().metadata()}


def organization_scope(slugs, *, using=None) -> OrganizationScope:
    """Return the `scope` of the organizations with these slugs and their data: the rows
    of the subset's root table (registry.subset_root_table) whose declared subset_root
    field has one of the values `slugs`.

    Raises DataTransferError naming the slugs that match no organization.
    """
    using = using or domain_database()
    root = subset_root_table()
    name, field = root.model._meta.model_name, root.subset_root.attname
    slugs = sorted(set(slugs))
    open_connection(using)
    if not slugs:
        raise DataTransferError(f"No {name} to export (give at least one {field}).")
    rows = root.model._base_manager.using(using).filter(**{f"{field}__in": slugs})
    found = dict(rows.values_list(field, "pk"))
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        names = ", ".join(f"'{slug}'" for slug in unknown)
        raise DataTransferError(f"Unknown {name} {field}(s) {names} in database '{using}'.")
    return OrganizationScope(found, using=using)


@dataclass
class TableCount:
    """How many rows of one table a subset export writes, and how many of them belong to
    other organizations (references in a table with a path to an organization)."""

    table: str
    rows: int
    others: int


def subset_counts(slugs, *, using=None) -> list[TableCount]:
    """The rows the subset of the organizations `slugs` writes, per table that has some,
    in the file's order. Raises DataTransferError as `organization_scope` does."""
    subset = organization_scope(slugs, using=using).collect()
    counts = []
    for table in domain_tables():
        rows = len(subset.rows.get(table.key, ()))
        if rows:
            others = len(subset.references(table.key)) if table.key in subset.belongs else 0
            counts.append(TableCount(table.key, rows, others))
    return counts
