"""Images of the target's rows: what a row of the database holds, in the file's own
spelling, and a short digest of it.

The undo journal keeps the images of the rows an import is about to change (their previous
values), and of the rows it wrote (to see, at the revert, whether someone changed them
since); a plan keeps the digests of the target's rows it read, to see at the apply whether
they are still the same. Both read them through `read_ahead`, which reads the images of a
chunk of the file's rows before the writer sees the first of them, whatever the backend.

The journal keeps, of each row it wrote, a digest of the row as written (`written_digests`:
on PostgreSQL, of the row's own text, made by the server; elsewhere, of the row as an export
spells it), and the revert compares it with the digest of the row it finds.

An image is the row as an export spells it (`encode_row`: the file keys, secrets included)
with its many-to-many links as the sorted ids of the related rows.
"""

import contextlib
import hashlib
import json

import orjson
from django.db import connections

from datatransfer.exporter import rows_as_exported
from datatransfer.formats.rows import encode_row, value_decoder
from datatransfer.writer.plan import base_manager

CHUNK = 1000  # rows per read of images
WRITTEN_CHUNK = 5000  # rows per read of written_digests


def row_ids(table, raw_rows) -> list:
    """The primary keys of the file rows `raw_rows`; rows whose id does not
    decode are left out (the writer fails them, they are never written)."""
    decode = value_decoder(table.pk.field)
    ids = []
    for raw in raw_rows:
        try:
            ids.append(decode(raw.get(table.pk.key)))
        except (ValueError, TypeError, OverflowError, AttributeError):
            continue
    return [pk for pk in ids if pk is not None]


def read_images(table, ids, using: str) -> dict:
    """{pk: image} of the target's rows among `ids` (those it lacks are left out)."""
    images = {}
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = list(base_manager(table.model, using).filter(pk__in=chunk).values())
        owners = [row[table.pk.attname] for row in rows]
        links = {spec: spec.linked(owners, using) for spec in table.many_to_many}
        for row in rows:
            pk = row[table.pk.attname]
            linked = {spec.key: links[spec].get(pk, []) for spec in table.many_to_many}
            images[pk] = encode_row(table, row, linked)
    return images


def written_digests(table, ids, using: str) -> dict:
    """{pk: digest} of the target's rows among `ids` (those it lacks are left out): what
    the undo journal keeps of each row it wrote, and what the revert compares with the row
    it finds, on the same database (so made the same way). On PostgreSQL the server makes
    them (`_server_digests`); elsewhere, each is the digest of the row as an export spells
    it (secrets included, its many-to-many links as the related rows' keys)."""
    ids = list(dict.fromkeys(ids))
    connection = connections[using]
    found = {}
    for start in range(0, len(ids), WRITTEN_CHUNK):
        chunk = ids[start : start + WRITTEN_CHUNK]
        if connection.vendor == "postgresql":
            found.update(_server_digests(table, chunk, connection))
            continue
        decode = value_decoder(table.pk.field)
        rows = base_manager(table.model, using).filter(pk__in=chunk)
        with contextlib.closing(rows_as_exported(table, rows, using)) as spelled:
            for row in spelled:
                found[decode(row[table.pk.key])] = digest(row)
    return found


def _server_digests(table, ids: list, connection) -> dict:
    """{pk: the first 32 hex digits of a SHA-256} of the rows among `ids`, made by the
    server from the row's own text (every column, secrets included) and, per many-to-many
    link, the sorted ids of the related rows."""
    meta = table.model._meta
    quote = connection.ops.quote_name
    pk = f"t.{quote(table.pk.field.column)}"
    parts = ["t::text"]
    for spec in table.many_to_many:
        through = spec.through._meta
        owner = quote(through.get_field(spec.owner_column.removesuffix("_id")).column)
        target = quote(through.get_field(spec.target_column.removesuffix("_id")).column)
        parts.append(
            f"(SELECT array_agg(l.{target} ORDER BY l.{target})::text "
            f"FROM {quote(through.db_table)} AS l WHERE l.{owner} = {pk})"
        )
    text = " || '|' || ".join(f"coalesce({part}, '')" for part in parts)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, left(encode(sha256(convert_to({text}, 'UTF8')), 'hex'), 32) "
            f"FROM {quote(meta.db_table)} AS t WHERE {pk} = ANY(%s)",
            [list(ids)],
        )
        return dict(cursor.fetchall())


def digest(image: dict) -> str:
    """A short, stable digest of an image (its keys sorted)."""
    try:
        data = orjson.dumps(image, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits (a JSON column's): the standard library
        data = json.dumps(image, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:32]


def read_ahead(table, raw_rows, on_chunk, *, size: int = CHUNK):
    """Yield the file rows `raw_rows` as they come, calling `on_chunk(ids)` with the ids of
    each chunk of `size` rows before the first of them is yielded: what `on_chunk` reads
    of the target is read before the writer can change any of those rows.

    Consume it before handing the rows to the writer: on PostgreSQL the writer's fast path
    pulls the rows while its COPY is open on the connection, and a query of `on_chunk` then
    waits for ever (journal.Journal.table_rows spools the rows to a file first)."""
    chunk = []
    for raw in raw_rows:
        chunk.append(raw)
        if len(chunk) == size:
            on_chunk(row_ids(table, chunk))
            yield from chunk
            chunk = []
    if chunk:
        on_chunk(row_ids(table, chunk))
        yield from chunk
