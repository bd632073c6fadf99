"""Model fields for the column types Prisma makes that Django has no field for.

`TimestampField` is Prisma's `DateTime`: `TIMESTAMP(3)` without time zone, holding UTC to
the millisecond. `EnumField` is a Prisma `enum`: a PostgreSQL enum type, text elsewhere.
"""

import datetime as dt

from django.db import models


def truncate_to_precision(value: dt.datetime, digits: int) -> dt.datetime:
    """`value` cut to `digits` fractional digits of a second (the column's precision)."""
    step = 10 ** (6 - digits)
    return value.replace(microsecond=value.microsecond - value.microsecond % step)


def now_ms() -> dt.datetime:
    """The current UTC time, to the millisecond (what a `TIMESTAMP(3)` column holds)."""
    return truncate_to_precision(dt.datetime.now(dt.UTC), 3)


class TimestampField(models.DateTimeField):
    """A UTC time stored without time zone, to `precision` fractional digits.

    Values are cut to the column's precision before they are written (PostgreSQL would
    round them), so what is written is what reads back; reads come back aware, in UTC.
    """

    def __init__(self, *args, precision: int = 3, **kwargs):
        self.precision = precision
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.precision != 3:
            kwargs["precision"] = self.precision
        return name, path, args, kwargs

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return f"timestamp({self.precision})"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if isinstance(value, dt.datetime):
            value = truncate_to_precision(value, self.precision)
            if connection.vendor == "postgresql" and value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return connection.ops.adapt_datetimefield_value(value)


class EnumField(models.TextField):
    """A column of the PostgreSQL enum type `enum_name`, whose labels are `choices`
    (plain text on other databases)."""

    def __init__(self, *args, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["enum_name"] = self.enum_name
        return name, path, args, kwargs

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return connection.ops.quote_name(self.enum_name)
        return super().db_type(connection)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.flatchoices)
