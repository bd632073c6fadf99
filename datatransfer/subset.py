"""Subset exports: the rows that belong to some root rows (organizations), plus every row
they reference, so the file loads on its own into an empty database.

Everything is derived from the models' links (`graph.relations`), so a new model with a
foreign-key path to an organization joins the subset without a change here.
"""

import json

from django.db import connections
from django.db.models.expressions import RawSQL

from datatransfer.databases import open_connection
from datatransfer.exceptions import DataTransferError
from datatransfer.graph import relations
from datatransfer.registry import domain_tables, travelling_through
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


def _children(table, field, parent_ids, using) -> set:
    """Primary keys of `table`'s rows whose `field` points to one of `parent_ids`."""
    found = set()
    for chunk in _chunks(parent_ids):
        if field.many_to_many:
            through = travelling_through(field)
            own, other = field.m2m_field_name(), field.m2m_reverse_field_name()
            rows = through._base_manager.using(using).filter(**{f"{other}_id__in": chunk})
            found.update(rows.values_list(f"{own}_id", flat=True))
        else:
            lookup = (
                f"{field.attname}__in"
                if field.target_field.primary_key
                else f"{field.name}__pk__in"
            )
            found.update(
                _manager(table, using).filter(**{lookup: chunk}).values_list("pk", flat=True)
            )
    return found


def _parents(table, field, ids, using) -> set:
    """Primary keys of the rows that `field` of `table`'s rows `ids` points to."""
    found = set()
    for chunk in _chunks(ids):
        if field.many_to_many:
            through = travelling_through(field)
            own, other = field.m2m_field_name(), field.m2m_reverse_field_name()
            rows = through._base_manager.using(using).filter(**{f"{own}_id__in": chunk})
            found.update(rows.values_list(f"{other}_id", flat=True))
        else:
            target = field.attname if field.target_field.primary_key else f"{field.name}__pk"
            rows = (
                _manager(table, using)
                .filter(pk__in=chunk)
                .exclude(**{f"{field.attname}__isnull": True})
            )
            found.update(rows.values_list(target, flat=True))
    found.discard(None)
    return found


def collect_subset(root_model, root_ids, *, using=None) -> tuple[dict[str, set], set[str]]:
    """Return the primary keys to export per table key, and the keys of the tables that have
    a path to `root_model` (whose rows belong to the roots, even when there are none).

    1. Down: a row belongs to the roots when one of its links points to a row that does,
       table after table in dependency order. The links set last (a cycle's nullable side,
       a self-reference) are not followed down: a block would pull in every later block,
       an owner every organization they own.
    2. Up: every row a collected row points to, over every link (the ones set last and
       many-to-manys too), until nothing new comes, so the file loads on its own.
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
                    rows[table.key] |= _children(table, field, rows[target.key], using)

    by_key = {table.key: table for table in tables}
    pending = {key: set(ids) for key, ids in rows.items() if ids}
    while pending:
        key = next(iter(pending))
        ids = pending.pop(key)
        table = by_key[key]
        for field, target in _links(table, by_model):
            new = _parents(table, field, ids, using) - rows[target.key]
            if new:
                rows[target.key] |= new
                pending.setdefault(target.key, set()).update(new)
    return rows, belongs


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


class OrganizationScope:
    """A `scope` for `export_domain`: the subset of some organizations.

    The rows are collected on the first call, inside the exporter's transaction, so they
    come from the same snapshot as the rows written. Tables without a path to an
    organization and without a referenced row are left out of the file.
    """

    def __init__(self, organizations: dict, *, using=None):
        self.organizations = organizations  # slug -> id
        self.using = using or domain_database()
        self.rows = None
        self.belongs = None

    @property
    def slugs(self) -> list[str]:
        return sorted(self.organizations)

    def __call__(self, table, queryset):
        if self.rows is None:
            from core.models import Organization

            self.rows, self.belongs = collect_subset(
                Organization, self.organizations.values(), using=self.using
            )
        if table.key not in self.belongs and not self.rows.get(table.key):
            return None
        return filter_pk_in(queryset, self.rows.get(table.key, ()))


def organization_scope(slugs, *, using=None) -> OrganizationScope:
    """Return the `scope` of the organizations with these slugs and their data.

    Raises DataTransferError naming the slugs that match no organization.
    """
    using = using or domain_database()
    from core.models import Organization

    slugs = sorted(set(slugs))
    open_connection(using)
    if not slugs:
        raise DataTransferError("No organization to export (give at least one slug).")
    found = dict(
        Organization._base_manager.using(using).filter(slug__in=slugs).values_list("slug", "id")
    )
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        names = ", ".join(f"'{slug}'" for slug in unknown)
        raise DataTransferError(f"Unknown organization slug(s) {names} in database '{using}'.")
    return OrganizationScope(found, using=using)
