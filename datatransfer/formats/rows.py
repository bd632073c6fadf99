"""Values and rows as every export format carries them, as Django's "python" serializer
does for its formats: a row is a dict of file keys to plain values (strings, numbers,
booleans, None, lists and dicts). Times are ISO 8601 in UTC with `Z` (milliseconds, or
microseconds when they are not whole milliseconds, so round trips are exact); dates are
written at midnight UTC as the old tool does; decimals are strings; JSON columns are their
plain value, integers of any size kept exact; big integers (`BigInt` columns) are strings,
which JavaScript reads exactly where it would round a number above 2^53 (numbers are
accepted on reading too).

A format only spells these rows in its own text; the manifest's checksums are computed on
them, so they do not depend on the format, and the writers take what this module makes."""

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import models


class RowError(ValueError):
    """A value of one row that cannot go into its column; the message names the field."""


SECRET_NOT_SHOWN = "(a secret, not shown)"


# ---------------------------------------------------------------------------- values


def format_datetime(value: dt.datetime) -> str:
    """`2025-01-15T10:30:00.412Z`, or with six decimals when the time has microseconds."""
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(dt.UTC).isoformat(timespec=spec)[:-6] + "Z"


def format_date(value: dt.date) -> str:
    return f"{value:%Y-%m-%d}T00:00:00.000Z"


def _value_encoder(field):
    """The function spelling a non-null value of `field` in the file, or None when the
    value is its own spelling."""
    if isinstance(field, models.DateTimeField):
        return format_datetime
    if isinstance(field, models.DateField):
        return format_date
    if isinstance(field, models.DecimalField):
        places = field.decimal_places
        return lambda value: f"{value:.{places}f}"
    if isinstance(field, models.BigIntegerField) and not isinstance(field, models.BigAutoField):
        return str  # a BigInt: JavaScript reads a string exactly, rounds a number past 2^53
    return None


def encode_value(field: models.Field, value):
    """Return the JSON spelling of a model value."""
    encode = _value_encoder(field)
    return value if value is None or encode is None else encode(value)


def _parse_datetime(raw) -> dt.datetime:
    if not isinstance(raw, str):
        raise ValueError("expected an ISO 8601 date-time string")
    value = dt.datetime.fromisoformat(raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _datetime_decoder(field):
    """Times are kept at the column's precision (`precision` fractional digits, 3 for
    Prisma's TIMESTAMP(3)), so that a file with microseconds compares as the database
    holds it and a re-import stays unchanged."""
    digits = getattr(field, "precision", 6)
    if digits >= 6:
        return _parse_datetime
    step = 10 ** (6 - digits)

    def decode(raw) -> dt.datetime:
        value = _parse_datetime(raw)
        return value.replace(microsecond=value.microsecond - value.microsecond % step)

    return decode


def _parse_date(raw) -> dt.date:
    if not isinstance(raw, str):
        raise ValueError("expected an ISO 8601 date string")
    if len(raw) == 10:
        return dt.date.fromisoformat(raw)
    # The old tool writes date-only columns as midnight UTC date-times.
    return _parse_datetime(raw).date()


def _parse_decimal(field, raw) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError("expected a decimal number or string")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
    if not value.is_finite():
        raise ValueError("not a finite number")
    _, digits, exponent = value.as_tuple()
    if -exponent > field.decimal_places and value != round(value, field.decimal_places):
        raise ValueError(f"more than {field.decimal_places} decimal places")
    if len(digits) + exponent > field.max_digits - field.decimal_places and value != 0:
        raise ValueError(
            f"more than {field.max_digits - field.decimal_places} digits before the point"
        )
    return value.quantize(Decimal(1).scaleb(-field.decimal_places))


def _parse_integer(field, raw) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer")
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        raw = int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int):
        raise ValueError("expected an integer")
    bits = 64 if isinstance(field, models.BigIntegerField | models.BigAutoField) else 32
    if not -(2 ** (bits - 1)) <= raw < 2 ** (bits - 1):
        raise ValueError(f"out of range for a {bits}-bit integer")
    return raw


def _string_decoder(field):
    limit = field.max_length
    choices = frozenset(choice for choice, _ in field.flatchoices) if field.choices else None

    def decode(raw):
        if not isinstance(raw, str):
            raise ValueError("expected a string")
        if limit and len(raw) > limit:
            raise ValueError(f"longer than {limit} characters")
        if choices is not None and raw not in choices:
            raise ValueError("not one of " + ", ".join(sorted(choices)))
        if "\x00" in raw:
            raise ValueError("contains a NUL character")
        return raw

    return decode


def _boolean(raw):
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw


def _value_decoder(field):
    """The function turning a non-null JSON value into the value of `field`."""
    if field.is_relation:
        return _value_decoder(field.target_field)
    if isinstance(field, models.JSONField):
        return lambda raw: raw
    if isinstance(field, models.DateTimeField):
        return _datetime_decoder(field)
    if isinstance(field, models.DateField):
        return _parse_date
    if isinstance(field, models.DecimalField):
        return lambda raw: _parse_decimal(field, raw)
    if isinstance(field, models.BooleanField):
        return _boolean
    if isinstance(field, models.IntegerField | models.AutoField):
        return lambda raw: _parse_integer(field, raw)
    if isinstance(field, models.CharField | models.TextField):
        return _string_decoder(field)
    return field.to_python


@functools.cache
def value_decoder(field: models.Field):
    """The function turning a JSON value into the model value of `field` (raising
    ValueError saying what is wrong); made once per field."""
    convert = _value_decoder(field)
    nullable = field.null or isinstance(field, models.JSONField)

    def decode(raw):
        if raw is None:
            if not nullable:
                raise ValueError("null is not allowed")
            return None
        return convert(raw)

    return decode


def decode_value(field: models.Field, raw):
    """Return the model value for the JSON value `raw`; raise ValueError saying what is wrong."""
    return value_decoder(field)(raw)


# ---------------------------------------------------------------------------- rows


_ENCODERS = {}


def row_encoders(table) -> tuple:
    """(file key, attribute, encoder or None, field) per field of `table`, made once per model."""
    found = _ENCODERS.get(table.model)
    if found is None:
        found = _ENCODERS[table.model] = tuple(
            (spec.key, spec.attname, _value_encoder(spec.field), spec.field)
            for spec in table.fields
        )
    return found


def encode_row(table, values: dict, many_to_many_values=None, *, exclude_secrets=False) -> dict:
    """Return the file's dict for one row (attribute name -> model value), plus its
    many-to-many keys."""
    row = {}
    for key, attname, encode, _ in row_encoders(table):
        value = values[attname]
        row[key] = value if value is None or encode is None else encode(value)
    if exclude_secrets:
        for spec in table.fields:
            if spec.field.name in table.secret_fields:
                row[spec.key] = ""
    for spec in table.many_to_many:
        row[spec.key] = list((many_to_many_values or {}).get(spec.key, ()))
    return row


@dataclass
class DecodedRow:
    """One row of the file as model values, keyed by attribute name."""

    pk: object
    values: dict = field(default_factory=dict)
    many_to_many: dict = field(default_factory=dict)


_DECODERS = {}


def _decoders(table) -> tuple:
    """(file key, attribute, decoder) per field of `table`, made once per model."""
    found = _DECODERS.get(table.model)
    if found is None:
        found = _DECODERS[table.model] = tuple(
            (spec.key, spec.attname, value_decoder(spec.field)) for spec in table.fields
        )
    return found


def decode_row(table, raw: dict) -> DecodedRow:
    """Return a DecodedRow for a row of `table`; fields absent from the row are left out.

    Raises RowError naming the field for the first value that does not fit.
    """
    pk_spec = table.pk
    if raw.get(pk_spec.key) is None:
        raise RowError(f"{pk_spec.key} is missing")
    values = {}
    for key, attname, decode in _decoders(table):
        if key not in raw:
            continue
        try:
            values[attname] = decode(raw[key])
        except (ValueError, TypeError, OverflowError) as error:
            shown = SECRET_NOT_SHOWN if key in table.secret_keys else _short(raw[key])
            raise RowError(f"{key} {shown}: {error}") from None
    m2m = {}
    for spec in table.many_to_many:
        if spec.key not in raw:
            continue
        keys = raw[spec.key]
        if not isinstance(keys, list) or not all(isinstance(k, str | int) for k in keys):
            raise RowError(f"{spec.key}: expected a list of keys")
        for key in keys:
            # PostgreSQL refuses a NUL in any text: a query for it would fail the import.
            if isinstance(key, str) and "\x00" in key:
                raise RowError(f"{spec.key} {_short(key)}: contains a NUL character")
        m2m[spec.key] = keys
    return DecodedRow(pk=values[pk_spec.attname], values=values, many_to_many=m2m)


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
