"""Natural-key matching (`loaddomain --match natural`): a file row whose id is not in the
target but whose natural key is (`User.email`...) takes the target row's id, and so does
every link to it, so the engines only ever see rows that already speak the target's ids.
"""

from collections import defaultdict

from django.db.models import Q

from datatransfer.fileformat.codec import encode_value, value_decoder
from datatransfer.registry import table_key
from datatransfer.writer import DEFAULT_BATCH_SIZE

_DECODE_ERRORS = (ValueError, TypeError, OverflowError)


def _batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _decoded(field, raw):
    """The model value of a file value, or None when there is none usable."""
    if raw is None or isinstance(raw, list | dict):
        return None
    try:
        return value_decoder(field)(raw)
    except _DECODE_ERRORS:
        return None


def matchable(table) -> bool:
    """Whether a table has a natural key other than its id (matching by id is the default)."""
    return bool(table.natural_key) and table.natural_key != (table.pk,)


class NaturalKeyMatcher:
    """Finds the file's rows that the target holds under other ids, then rewrites rows.

    `scan_table` runs on every table with a natural key, in dependency order, before
    anything is written: one query per batch of rows, for the rows whose id is not in the
    target and whose natural key is. Only those rows' ids are kept, in `mapping`
    ({table key: {file id: target id}}). Scanning first, against the target as it was,
    makes the result independent of the engine's batches, and lets a link set last
    (`Organization.ownerId`, a user later in the file) be rewritten like any other.
    """

    def __init__(self, *, using: str, batch_size: int | None = None):
        self.using = using
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.mapping = defaultdict(dict)
        self._claimed = defaultdict(set)  # target ids already taken by a file row

    def _natural_key(self, table, raw):
        """The row's natural key as target values (links already rewritten), or None."""
        key = []
        for spec in table.natural_key:
            value = _decoded(spec.field, raw.get(spec.key))
            if value is None:
                return None  # null matches nothing, as in a unique constraint
            if spec.field.is_relation:
                value = self.mapping.get(table_key(spec.field.related_model), {}).get(value, value)
            key.append(value)
        return tuple(key)

    def scan_table(self, table, raw_rows) -> None:
        """Add the rows of `table` that the target holds under another id to `mapping`."""
        if not matchable(table):
            return
        for batch in _batches(raw_rows, self.batch_size):
            self._scan_batch(table, batch)

    def _scan_batch(self, table, batch) -> None:
        mapping, claimed = self.mapping[table.key], self._claimed[table.key]
        file_ids, wanted = set(), {}  # wanted: natural key -> the first file id giving it
        for raw in batch:
            file_id = _decoded(table.pk.field, raw.get(table.pk.key))
            if file_id is None:
                continue
            file_ids.add(file_id)
            key = self._natural_key(table, raw)
            if key is not None and file_id not in mapping:
                wanted.setdefault(key, file_id)
        if not wanted:
            return
        names = [spec.attname for spec in table.natural_key]
        by_key = Q(**{f"{name}__in": {key[i] for key in wanted} for i, name in enumerate(names)})
        present, holders = set(), {}
        rows = table.model._base_manager.using(self.using).filter(Q(pk__in=file_ids) | by_key)
        for pk, *key in rows.values_list("pk", *names):
            if pk in file_ids:
                present.add(pk)
            holders[tuple(key)] = pk
        for key, file_id in wanted.items():
            target = holders.get(key)
            # A row whose id is in the target is matched by id, as without this option.
            if target is None or file_id in present or target in file_ids or target in claimed:
                continue
            mapping[file_id] = target
            claimed.add(target)

    def translated(self, ids_by_table: dict) -> dict:
        """{table key: ids} with the matched file ids replaced by the target's."""
        return {
            key: {self.mapping.get(key, {}).get(pk, pk) for pk in ids}
            for key, ids in ids_by_table.items()
        }

    def rows(self, table, raw_rows):
        """The rows of `table` with matched ids, its own and its links', set to the target's."""
        plan = []  # (file key, field, the field it holds ids of, {file id: target id})
        for spec in table.fields:
            if spec.field.primary_key:
                ids, id_field = self.mapping.get(table.key), spec.field
            elif spec.field.is_relation:
                ids, id_field = (
                    self.mapping.get(table_key(spec.field.related_model)),
                    spec.field.target_field,
                )
            else:
                continue
            if ids:
                plan.append((spec.key, spec.field, id_field, ids))
        if not plan:
            yield from raw_rows
            return
        for raw in raw_rows:
            rewritten = None
            for key, field, id_field, ids in plan:
                target = ids.get(_decoded(field, raw.get(key)))
                if target is not None:
                    rewritten = rewritten or dict(raw)
                    rewritten[key] = encode_value(id_field, target)
            yield raw if rewritten is None else rewritten
