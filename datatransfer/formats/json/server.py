"""On PostgreSQL, the export's rows spelled by the server: one JSON text per row, made by
`json_build_object` with every value as formats.rows.encode_value spells it (times by
`to_char`, decimals at the field's places, big integers as strings, secrets empty,
many-to-many keys sorted), read with `COPY ... TO STDOUT` and parsed once, instead of
each value being read into Python and formatted back to text.

The spelling of a column is chosen from its field (as the codec does) and from the type
the database really gives it (pg_attribute): a table with a column this module cannot
spell exactly as the Python path does (another field or column type, a field that
converts what it reads) is left to the Python path (`spelled_rows` returns None). The
parity test (tests/integration/datatransfer/test_server_rows.py) compares both files byte for byte.
"""

import json

import orjson
import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models.expressions import RawSQL
from psycopg import sql

from datatransfer.formats.json.codec import has_long_integer

TEXT_TYPES = frozenset({"text", "character varying", "character"})
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
_MILLISECONDS = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
_MICROSECONDS = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
# `f"{date:%Y}"` writes a year before 1000 without leading zeros; FM does the same.
_DATE = 'FMYYYY-MM-DD"T00:00:00.000Z"'


class Column:
    """A column as the database types it: `type` as format_type names it without its
    modifier (`timestamp without time zone`), `typmod`, and whether it is an enum."""

    def __init__(self, type_name: str, typmod: int, enum: bool):
        self.type = type_name
        self.typmod = typmod
        self.enum = enum

    @property
    def time_precision(self) -> int:
        return 6 if self.typmod < 0 else self.typmod

    @property
    def numeric_scale(self) -> int | None:
        return None if self.typmod < 0 else (self.typmod - 4) & 0xFFFF


def columns_of(cursor, db_table: str) -> dict[str, Column]:
    """{column name: Column} of the table `db_table` (found on the search path)."""
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL), a.atttypmod, t.typtype = 'e' "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        [sql.Identifier(db_table).as_string(None)],
    )
    return {name: Column(type_name, typmod, enum) for name, type_name, typmod, enum in cursor}


def _plain(column: Column) -> bool:
    """A column whose value JSON spells as the file does (a string or an integer)."""
    return column.type in TEXT_TYPES or column.type in INTEGER_TYPES or column.enum


def _time_sql(field, ref, column: Column):
    if column.type == "timestamp with time zone":
        ref = sql.SQL("({} AT TIME ZONE 'UTC')").format(ref)
    elif column.type != "timestamp without time zone":
        return None
    elif not hasattr(field, "from_db_value") and settings.TIME_ZONE != "UTC":
        # Python reads a time without time zone in the process's zone (TIME_ZONE), and
        # a field converting it (core.fields.TimestampField) as UTC: only UTC is spelled.
        return None
    milliseconds = sql.SQL("to_char({}, {})").format(ref, sql.Literal(_MILLISECONDS))
    if column.time_precision <= 3:
        return milliseconds
    # codec.format_datetime: six decimals when the time is not a whole millisecond.
    return sql.SQL(
        "CASE WHEN mod(extract(microseconds FROM {})::bigint, 1000) = 0 THEN {} "
        "ELSE to_char({}, {}) END"
    ).format(ref, milliseconds, ref, sql.Literal(_MICROSECONDS))


def value_sql(field: models.Field, ref, column: Column):
    """The SQL spelling the value of `field` (column `ref`) as codec.encode_value does,
    or None when it cannot be spelled exactly: the branches follow codec._value_encoder."""
    own = field.target_field if field.is_relation else field
    if hasattr(own, "from_db_value") and not isinstance(
        own, models.DateTimeField | models.JSONField
    ):
        return None  # a field converting what it reads: only Python knows what it gives
    if field.is_relation:
        return ref if _plain(column) else None
    if isinstance(field, models.JSONField):
        # Python parses the text with the field's decoder: only the standard one is known.
        return ref if column.type == "jsonb" and field.decoder is None else None
    if isinstance(field, models.DateTimeField):
        return _time_sql(field, ref, column)
    if isinstance(field, models.DateField):
        return (
            sql.SQL("to_char({}, {})").format(ref, sql.Literal(_DATE))
            if column.type == "date"
            else None
        )
    if isinstance(field, models.DecimalField):
        places = field.decimal_places
        scale = column.numeric_scale
        if column.type != "numeric" or scale is None or scale > places:
            return None  # rounding: Python's half-even is not PostgreSQL's
        return sql.SQL("round({}, {})::text").format(ref, sql.Literal(places))
    if isinstance(field, models.BigIntegerField) and not isinstance(field, models.BigAutoField):
        return sql.SQL("{}::text").format(ref) if column.type in INTEGER_TYPES else None
    if isinstance(field, models.BooleanField):
        return ref if column.type == "boolean" else None
    if isinstance(field, models.IntegerField | models.AutoField):
        return ref if column.type in INTEGER_TYPES else None
    if isinstance(field, models.CharField | models.TextField):
        return ref if column.type in TEXT_TYPES or column.enum else None
    return None


def _many_to_many_sql(spec, owner_pk, cursor):
    """The sorted keys of the owner's related rows as ManyToManySpec.linked(keys=True)
    gives them: a JSON list, text keys in code point order (Python's sort)."""
    through, related = spec.through._meta, spec.related_model._meta
    owner = through.get_field(spec.field.m2m_field_name()).column
    target = through.get_field(spec.field.m2m_reverse_field_name()).column
    key_field = related.get_field(spec.natural_field) if spec.natural_field else related.pk
    key_column = columns_of(cursor, related.db_table).get(key_field.column)
    key = sql.Identifier("k", key_field.column)
    # The keys are written as they are read: only a column whose value is its spelling.
    if key_column is None or value_sql(key_field, key, key_column) is not key:
        return None
    order = key
    if key_column.type in TEXT_TYPES or key_column.enum:
        order = sql.SQL('{}::text COLLATE "C"').format(key)
    return sql.SQL(
        "(SELECT coalesce(json_agg({} ORDER BY {}), '[]') FROM {} l JOIN {} k "
        "ON k.{} = l.{} WHERE l.{} = {})"
    ).format(
        key,
        order,
        sql.Identifier(through.db_table),
        sql.Identifier(related.db_table),
        sql.Identifier(related.pk.column),
        sql.Identifier(target),
        sql.Identifier(owner),
        owner_pk,
    )


def table_sql(table, cursor, *, exclude_secrets: bool):
    """The SQL expression of one row of `table` as the file's JSON text (its keys in the
    file's order), or None when a column cannot be spelled here."""
    db_table = table.model._meta.db_table
    columns = columns_of(cursor, db_table)
    parts = []
    for spec in table.fields:
        if exclude_secrets and spec.field.name in table.secret_fields:
            value = sql.SQL("''::text")  # encode_row's empty secret, even for a null
        else:
            column = columns.get(spec.field.column)
            ref = sql.Identifier(db_table, spec.field.column)
            value = value_sql(spec.field, ref, column) if column else None
        if value is None:
            return None
        parts += [sql.Literal(spec.key), value]
    owner_pk = sql.Identifier(db_table, table.pk.field.column)
    for spec in table.many_to_many:
        value = _many_to_many_sql(spec, owner_pk, cursor)
        if value is None:
            return None
        parts += [sql.Literal(spec.key), value]
    return sql.SQL("json_build_object({})::text").format(sql.SQL(", ").join(parts))


def parse_json_row(line: str) -> dict:
    """One row's JSON text as a dict, every value as the Python path reads it: its JSON
    columns are parsed by the standard library (JSONField.from_db_value), so a row with
    a long integer, or one orjson refuses (a number beyond a float), goes to it."""
    data = line.encode()
    if has_long_integer(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def row_parser(table):
    """The parser of `table`'s rows: orjson alone when no JSON column can hold an
    integer beyond 64 bits (every other integer is a column's, within 64 bits)."""
    if any(isinstance(spec.field, models.JSONField) for spec in table.fields):
        return parse_json_row
    return orjson.loads


def server_rows(table, queryset, row_sql, connection):
    """Yield the file's dict of each row of `queryset` (narrowed by a scope, or all),
    in the table's order, spelled by the server with `row_sql` (table_sql)."""
    # A cursor binding parameters on the client: COPY takes none, they are spelled in.
    with psycopg.ClientCursor(connection.connection) as client:
        row = RawSQL(row_sql.as_string(client).replace("%", "%%"), ())
        query = queryset.order_by(*table.ordering()).annotate(datatransfer_file_row=row)
        try:
            select, params = query.values_list("datatransfer_file_row").query.sql_with_params()
        except EmptyResultSet:  # a scope's `none()`: no row to read
            return
        statement = client.mogrify(select, params)
        parse = row_parser(table)
        with client.copy(sql.SQL("COPY ({}) TO STDOUT").format(sql.SQL(statement))) as copy:
            for (line,) in copy.rows():
                yield parse(line)


def spelled_rows(table, queryset, connection, *, exclude_secrets=False):
    """The rows of `queryset` spelled by the server (a generator, to be closed: its COPY
    holds the connection until it ends), or None when they cannot be: the database is not
    PostgreSQL, or a column of `table` is one this module cannot spell exactly."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        row_sql = table_sql(table, cursor.cursor, exclude_secrets=exclude_secrets)
    if row_sql is None:
        return None
    return server_rows(table, queryset, row_sql, connection)
