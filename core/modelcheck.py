"""The differences between the models a Prisma schema makes and the `core` models in use.

`schema_models(source)` loads generated models in a registry of their own (never the
project's); `model_differences(expected, actual)` names, in Prisma's terms (`User.nickname`),
each table, column, type, constraint or enum label that one side has and the other lacks.
"""

import enum
import types

from django.db import models
from django.test.utils import isolate_apps

from core.fields import EnumField, TimestampField


def schema_models(source: str, *, app_label: str = "core") -> list[type[models.Model]]:
    """The models that `source` (a generated models module) defines, registered apart from
    the project's own, so that both can be compared."""
    module = types.ModuleType(f"{app_label}._models_from_schema")
    with isolate_apps(app_label) as apps:
        exec(compile(source, "<inspectprisma>", "exec"), module.__dict__)  # noqa: S102
        return list(apps.get_app_config(app_label).get_models())


def describe_models(model_list) -> dict[str, dict]:
    """{table: {column or many-to-many name: {property: value}}, with `(unique)` entries
    for the unique sets}: what a difference can be found in."""
    tables = {}
    for model in model_list:
        columns = {}
        for field in model._meta.get_fields(include_hidden=False):
            if field.auto_created and not field.concrete:
                continue  # a reverse relation
            if field.many_to_many:
                columns[f"{field.name} (many-to-many)"] = {
                    "through": field.remote_field.through._meta.db_table,
                    "to": field.related_model._meta.db_table,
                }
            elif field.concrete and field.column:
                columns[field.column] = describe_field(field)
        for unique in _unique_sets(model):
            columns[f"({', '.join(unique)}) unique"] = {"unique": True}
        tables[model._meta.db_table] = columns
    return tables


def describe_field(field) -> dict:
    """The properties of a concrete field that a Prisma-made column decides."""
    kind = type(field).__name__
    if isinstance(field, EnumField):
        kind = f"enum {field.enum_name}"
    description = {
        "type": kind,
        "null": field.null,
        "unique": field.unique and not field.primary_key,
        "primary key": field.primary_key,
        "default": _default(field),
    }
    for name in ("max_length", "max_digits", "decimal_places"):
        if getattr(field, name, None) is not None and kind != "enum":
            description[name.replace("_", " ")] = getattr(field, name)
    if isinstance(field, TimestampField):
        description["precision"] = field.precision
    if isinstance(field, EnumField):
        description["labels"] = field.labels
    if field.is_relation:
        description["to"] = field.related_model._meta.db_table
        description["on delete"] = field.remote_field.on_delete.__name__
    return description


def model_differences(expected, actual) -> list[str]:
    """Each difference between the models `expected` (made from the schema) and `actual`
    (in use), one line each, schema side first."""
    schema, models_ = describe_models(expected), describe_models(actual)
    lines = []
    for table in schema.keys() - models_.keys():
        lines.append(f"{table}: a table in the schema, not in the models")
    for table in models_.keys() - schema.keys():
        lines.append(f"{table}: a table in the models, not in the schema")
    for table in schema.keys() & models_.keys():
        ours, theirs = schema[table], models_[table]
        for column in ours.keys() - theirs.keys():
            lines.append(f"{table}.{column}: in the schema, not in the models")
        for column in theirs.keys() - ours.keys():
            lines.append(f"{table}.{column}: in the models, not in the schema")
        for column in ours.keys() & theirs.keys():
            lines += _property_differences(f"{table}.{column}", ours[column], theirs[column])
    return sorted(lines)


def _property_differences(where: str, ours: dict, theirs: dict) -> list[str]:
    lines = []
    for name in sorted(ours.keys() | theirs.keys()):
        mine, yours = ours.get(name), theirs.get(name)
        if mine == yours:
            continue
        if name == "labels" and mine is not None and yours is not None:
            added = [label for label in mine if label not in yours]
            dropped = [label for label in yours if label not in mine]
            if added:
                lines.append(f"{where}: labels {', '.join(added)} in the schema, not in the models")
            if dropped:
                lines.append(
                    f"{where}: labels {', '.join(dropped)} in the models, not in the schema"
                )
            if not added and not dropped:
                lines.append(f"{where}: labels in another order in the schema")
            continue
        lines.append(f"{where}: {name} {mine!r} in the schema, {yours!r} in the models")
    return lines


def _unique_sets(model) -> list[tuple[str, ...]]:
    sets = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            sets.append(tuple(model._meta.get_field(name).column for name in constraint.fields))
    for together in model._meta.unique_together:
        sets.append(tuple(model._meta.get_field(name).column for name in together))
    return sets


def _default(field):
    if not field.has_default():
        return None
    value = field.default
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, enum.Enum):
        return value.value
    return value
