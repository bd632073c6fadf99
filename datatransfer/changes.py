"""Exports of the changes since a time: per table, the rows whose change column (the
registry's `TableSpec.changed_at`: `updatedAt`, else `createdAt`) is at or after it, every
row of a table that has neither, and the rows those need as references, as a subset
carries them (subset.with_references).

The file says it is partial (`metadata.partial`: `since`, and `until`, the time the
export started). `until` is read before the export reads anything: a row stamped
before `until` and committed by then is in this export's snapshot, and a row stamped at
or after `until` is in the next export's, from `until` (perhaps in both: loaded twice, it
is unchanged the second time), so nothing falls between two runs. The limit: a stamp is
the application's clock when it wrote the row, and the export sees a row once its
transaction has committed; a row stamped before `until` but committed after the export's
snapshot (a transaction still open then, or a clock behind the database server's) is in
neither file: an earlier time keeps a margin. A row deleted since is in no file: a
partial file says nothing of the rows it lacks.
"""

import datetime as dt

from django.utils import timezone

from datatransfer.exceptions import Code, DataTransferError, escaped
from datatransfer.formats.rows import format_datetime
from datatransfer.registry import domain_tables, subset_root_table
from datatransfer.subset import (
    CollectedScope,
    Subset,
    collect_subset,
    filter_pk_in,
    organization_scope,
    with_references,
)

EXAMPLE = "2026-12-07T18:00:00Z"


def parse_since(text: str) -> dt.datetime:
    """The aware time of `text`, ISO 8601: a date (`2026-12-07`: midnight), a date and a
    time (`2026-12-07T18:00`, `2026-12-07 18:00:00.250`), with an offset (`Z`,
    `+01:00`) or without one: then in the settings' TIME_ZONE (UTC in this project).

    Raises DataTransferError (Code.BAD_OPTION) for anything else."""
    try:
        value = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise DataTransferError(
            f"'{escaped(text)}' is not an ISO 8601 time (for example {EXAMPLE}).",
            code=Code.BAD_OPTION,
        ) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def _to_the_millisecond(value: dt.datetime) -> dt.datetime:
    """`value` cut down to the millisecond, the platform's precision: an export from it
    misses nothing stamped in the same millisecond."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


class ChangesScope(CollectedScope):
    """The rows changed since `since` (an aware time) and the rows they need, as
    references; with `organizations` (slug -> id), only the changed rows of their subset.
    `until` is the time the scope was made (the export's start), cut to the millisecond."""

    def __init__(self, since: dt.datetime, *, organizations=None, using=None):
        super().__init__(using=using)
        self.until = _to_the_millisecond(timezone.now())
        self.since = since
        self.organizations = dict(organizations or {})

    def changed(self, table, ids=None) -> set:
        """The primary keys of `table`'s rows (among `ids`, when given) changed since
        `since`: all of them when the table has no change column."""
        column = table.changed_at
        if ids is not None and (column is None or not ids):
            return set(ids)
        rows = table.model._base_manager.using(self.using).all()
        if ids is not None:
            rows = filter_pk_in(rows, ids)
        if column is not None:
            rows = rows.filter(**{f"{column.field.name}__gte": self.since})
        return set(rows.values_list("pk", flat=True))

    def _collect(self) -> Subset:
        if self.organizations:
            root = subset_root_table()
            return collect_subset(
                root.model, self.organizations.values(), using=self.using, narrow=self.changed
            )
        tables = domain_tables()
        own = {table.key: self.changed(table) for table in tables}
        return with_references(own, {table.key for table in tables}, using=self.using)

    def metadata(self) -> dict:
        """The organizations (when some), the references, and what the file is part of:
        `partial`, the changes from `since` to `until`."""
        organizations = {"organizations": sorted(self.organizations)} if self.organizations else {}
        return {
            **organizations,
            **super().metadata(),
            "partial": {"since": format_datetime(self.since), "until": format_datetime(self.until)},
        }


def changes_scope(since: dt.datetime, organizations=(), *, using=None) -> ChangesScope:
    """The scope of the rows changed since `since` (of the `organizations`' subset, when
    some slugs are given). Raises DataTransferError as subset.organization_scope does."""
    chosen = organization_scope(organizations, using=using).organizations if organizations else {}
    return ChangesScope(since, organizations=chosen, using=using)
