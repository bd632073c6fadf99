"""The prune: after the load, delete the target's rows that lie within the file's scope and
that the file does not hold.

The scope is every table the file holds for a whole export, or, for a subset, the rows that
belong to its organizations in the target (subset.collect_subset: references are never in
scope). A partial file (rows changed since a time) has no scope: it is refused.

Append-only and immutable tables are never pruned. A row whose deletion would need a row
that stays to go (a row of such a table, a row out of scope, a row of the file linking to
it) stays, recorded as skipped, the issue naming the row that holds it. The others are
deleted children first, by primary key sets, the same on every backend.
"""

from datatransfer.exceptions import Code, DataTransferError
from datatransfer.observers import ImportObserver
from datatransfer.registry import subset_root_table
from datatransfer.reports import Outcome, Reason
from datatransfer.rowimages import row_ids
from datatransfer.subset import _chunks, collect_subset

NEVER_PRUNED = ("append-only", "immutable")


class HeldIds(ImportObserver):
    """An import observer that keeps the primary keys of each table's file rows (ids
    only), for the prune."""

    def __init__(self):
        self.held = {}

    def table_rows(self, table, rows):
        held = self.held.setdefault(table.key, set())
        for row in rows:
            held.update(row_ids(table, [row]))
            yield row


def prunable(table) -> bool:
    return table.write_policy.name not in NEVER_PRUNED


def _all_ids(table, using) -> set:
    return set(table.model._base_manager.using(using).values_list("pk", flat=True))


def scope_ids(tables, head, using) -> dict:
    """{table key: the target's primary keys within the file's scope}."""
    organizations = head.metadata.get("organizations")
    listed = [t for t in tables if t.key in head.listed and t.key not in head.skipped]
    if not organizations:
        return {t.key: _all_ids(t, using) for t in listed if prunable(t)}
    root = subset_root_table()
    field = root.subset_root.attname
    roots = root.model._base_manager.using(using).filter(**{f"{field}__in": organizations})
    subset = collect_subset(root.model, roots.values_list("pk", flat=True), using=using)
    return {
        t.key: set(subset.own.get(t.key, ()))
        for t in listed
        if prunable(t) and t.key in subset.belongs
    }


def _foreign_keys(tables):
    """(table, field, target table) of every foreign key between domain tables."""
    by_model = {t.model: t for t in tables}
    for table in tables:
        for field in table.model._meta.concrete_fields:
            target = getattr(field, "related_model", None)
            if field.is_relation and target in by_model:
                yield table, field, by_model[target]


def _blocked(tables, doomed, using) -> dict:
    """{(table key, id): (blocker table key, blocker id)} of the doomed rows that a row
    that stays links to."""
    blocked = {}
    for table, field, target in _foreign_keys(tables):
        ids = doomed.get(target.key)
        if not ids:
            continue
        going = doomed.get(table.key, set())
        manager = table.model._base_manager.using(using)
        for chunk in _chunks(ids):
            rows = manager.filter(**{f"{field.attname}__in": chunk})
            for pk, linked in rows.values_list("pk", field.attname):
                if pk not in going and (target.key, linked) not in blocked:
                    blocked[(target.key, linked)] = (table.key, pk)
    return blocked


def plan_prune(tables, head, held, using) -> tuple[dict, dict]:
    """({table key: ids to delete}, {(table key, id): blocker}): the rows in scope that the
    file does not hold, less those a staying row holds (to a fixed point)."""
    scope = scope_ids(tables, head, using)
    doomed = {key: ids - held.get(key, set()) for key, ids in scope.items()}
    kept = {}
    while True:
        blocked = _blocked(tables, doomed, using)
        if not blocked:
            return doomed, kept
        for (key, pk), blocker in blocked.items():
            doomed[key].discard(pk)
            kept[(key, pk)] = blocker


def prune(tables, head, held, report, using, before_delete=None) -> None:
    """Delete the target's rows in scope that the file lacks, children first; record each
    as deleted, or skipped (with the row that keeps it). `before_delete(table, ids)` is
    called before each chunk goes (the undo journal reads their images)."""
    doomed, kept = plan_prune(tables, head, held, using)
    for (key, pk), (blocker_key, blocker_id) in sorted(kept.items(), key=str):
        message = f"not deleted: {blocker_key} {blocker_id} links to it and stays"
        report.record(key, Outcome.SKIPPED, pk, Reason(message))
    if before_delete is not None:  # the images as they are, before any link is taken
        for table in tables:
            for chunk in _chunks(sorted(doomed.get(table.key, ()), key=str)):
                before_delete(table, chunk)
    for table in tables:  # the links written last (cycles) go first: nullable, never required
        later = [spec.attname for spec in table.deferred]
        if later and doomed.get(table.key):
            manager = table.model._base_manager.using(using)
            for chunk in _chunks(doomed[table.key]):
                manager.filter(pk__in=chunk).update(**dict.fromkeys(later))
    for table in reversed(tables):
        ids = doomed.get(table.key)
        if not ids:
            continue
        manager = table.model._base_manager.using(using)
        for chunk in _chunks(sorted(ids, key=str)):
            manager.filter(pk__in=chunk)._raw_delete(using)
        for pk in sorted(ids, key=str):
            report.record(table.key, Outcome.DELETED, pk)


def refuse_partial_prune(head) -> None:
    """A partial file's absent rows are unchanged, not gone: refused (nothing written)."""
    if head.partial is not None:
        raise DataTransferError(
            f"{head.path} is a partial file (the rows changed since "
            f"{head.partial.get('since', 'a time')}): the rows it lacks are not gone, so "
            "nothing can be deleted from it; nothing was written.",
            code=Code.BAD_OPTION,
        )
