"""Before any read or write: does the database hold the tables the models describe?

Compares, by introspection, the database's tables, columns, column types and enum labels
with the domain's models (link tables included). A database made by an older or newer
schema, a wrong `?schema=`, or one never migrated is refused in one line naming every
difference, before anything is read or written.

Columns (and enum labels) the database has but the models lack are refused too: an export
would silently leave their values behind, and an import could not fill them. On SQLite,
whose column types are loose, only tables and columns are compared.
"""

import re
from dataclasses import dataclass, field

from datatransfer.exceptions import SchemaMismatchError

SCHEMA_FILE = "core/prisma/schema.prisma"

# How PostgreSQL's format_type() spells the types Django's PostgreSQL backend declares.
_POSTGRES_SPELLINGS = (
    (re.compile(r"^varchar\((\d+)\)$"), r"character varying(\1)"),
    (re.compile(r"^numeric\((\d+),\s*(\d+)\)$"), r"numeric(\1,\2)"),
    (re.compile(r"^timestamp\((\d)\)$"), r"timestamp(\1) without time zone"),
    (re.compile(r"^timestamp$"), "timestamp without time zone"),
    (re.compile(r"^serial$"), "integer"),
    (re.compile(r"^bigserial$"), "bigint"),
)


def expected_postgres_type(field, connection) -> str:
    """The type of `field`'s column as PostgreSQL's format_type() writes it."""
    declared = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
    declared = declared.strip()
    for pattern, spelling in _POSTGRES_SPELLINGS:
        if pattern.match(declared):
            return pattern.sub(spelling, declared)
    return declared


def models_of(tables):
    """Every model whose table the domain reads or writes: the tables and their link tables."""
    models = []
    for table in tables:
        models.append(table.model)
        models += [spec.through for spec in table.many_to_many]
    return models


@dataclass
class SchemaDifferences:
    missing_tables: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    other_types: list[str] = field(default_factory=list)
    enum_labels: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    # Which side is behind: the database lacks what the models have, or the reverse.
    database_behind: bool = False
    models_behind: bool = False

    def __bool__(self):
        return any(vars(self).values())

    def describe(self) -> str:
        parts = []
        if self.missing_tables:
            parts.append("missing tables " + ", ".join(self.missing_tables))
        if self.missing_columns:
            parts.append("missing columns " + ", ".join(self.missing_columns))
        if self.other_types:
            parts.append("other column types: " + ", ".join(self.other_types))
        if self.enum_labels:
            parts.append("other enum labels: " + ", ".join(self.enum_labels))
        if self.unknown_columns:
            parts.append("columns the models do not have " + ", ".join(self.unknown_columns))
        return "; ".join(parts)

    def hint(self) -> str:
        """What to run, for the side that is behind (empty when neither is clear)."""
        hints = []
        if self.database_behind:
            hints.append(
                f"its migrations are behind the models ({SCHEMA_FILE}): run `prisma migrate "
                "deploy` there, or use the copy of this tool whose models match it"
            )
        if self.models_behind:
            hints.append(
                "the models are behind it: copy the schema.prisma it was migrated with into "
                "core/prisma/ and run `python manage.py inspectprisma`"
            )
        return "; ".join(hints)


@dataclass(frozen=True)
class Column:
    """A column as the database describes it: its type (None where types are not
    compared), whether it takes NULL, whether it has a default."""

    type: str | None
    null: bool
    default: bool


def postgres_column_details(connection, table_names) -> dict[str, dict[str, Column]]:
    """{table: {column: Column}} of the tables visible on the search path."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
            "NOT a.attnotnull, a.atthasdef "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') "
            "AND pg_table_is_visible(c.oid) AND a.attnum > 0 AND NOT a.attisdropped",
            [list(table_names)],
        )
        columns = {}
        for table, column, type_, null, default in cursor.fetchall():
            columns.setdefault(table, {})[column] = Column(type_, null, default)
    return columns


def other_column_details(connection, table_names) -> dict[str, dict[str, Column]]:
    """{table: {column: Column}} on databases whose types are not compared (type None)."""
    present = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        return {
            table: {
                column.name: Column(None, bool(column.null_ok), column.default is not None)
                for column in connection.introspection.get_table_description(cursor, table)
            }
            for table in table_names
            if table in present
        }


def column_details(connection, table_names) -> dict[str, dict[str, Column]]:
    """{table: {column: Column}} of those of `table_names` the database has."""
    if connection.vendor == "postgresql":
        return postgres_column_details(connection, table_names)
    return other_column_details(connection, table_names)


def _postgres_columns(connection, table_names) -> dict[str, dict[str, str]]:
    """{table: {column: type}} of the tables visible on the search path."""
    return {
        table: {name: column.type for name, column in columns.items()}
        for table, columns in postgres_column_details(connection, table_names).items()
    }


def postgres_enum_labels(connection, names) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
            "WHERE t.typname = ANY(%s) AND pg_type_is_visible(t.oid) ORDER BY e.enumsortorder",
            [list(names)],
        )
        labels = {}
        for name, label in cursor.fetchall():
            labels.setdefault(name, []).append(label)
    return labels


def _other_columns(connection, table_names) -> dict[str, dict[str, str | None]]:
    """{table: {column: None}} on databases whose types are not compared."""
    return {
        table: dict.fromkeys(columns)
        for table, columns in other_column_details(connection, table_names).items()
    }


def schema_differences(connection, tables) -> SchemaDifferences:
    """What the database `connection` lacks, or has otherwise, for the domain `tables`."""
    models = models_of(tables)
    postgres = connection.vendor == "postgresql"
    table_names = [model._meta.db_table for model in models]
    found = (
        _postgres_columns(connection, table_names)
        if postgres
        else _other_columns(connection, table_names)
    )
    differences = SchemaDifferences()
    enums = {}
    for model in models:
        name = model._meta.db_table
        if name not in found:
            differences.missing_tables.append(name)
            continue
        columns = found[name]
        expected = set()
        for model_field in model._meta.concrete_fields:
            column = model_field.column
            expected.add(column)
            if column not in columns:
                differences.missing_columns.append(f"{name}.{column}")
                continue
            if not postgres:
                continue
            wanted = expected_postgres_type(model_field, connection)
            if columns[column] != wanted:
                differences.other_types.append(
                    f"{name}.{column} is {columns[column]} where the models expect {wanted}"
                )
            elif enum_name := getattr(model_field, "enum_name", None):
                enums[enum_name] = model_field
        differences.unknown_columns += [f"{name}.{c}" for c in sorted(set(columns) - expected)]
    differences.database_behind = bool(differences.missing_tables or differences.missing_columns)
    differences.models_behind = bool(differences.unknown_columns)
    if enums:
        labels = postgres_enum_labels(connection, enums)
        for name, model_field in sorted(enums.items()):
            have, want = labels.get(name, []), list(model_field.labels)
            if set(have) != set(want):
                lacking = sorted(set(want) - set(have))
                unknown = sorted(set(have) - set(want))
                detail = ", ".join(
                    [f"lacks {', '.join(lacking)}"] * bool(lacking)
                    + [f"has {', '.join(unknown)} that the models do not"] * bool(unknown)
                )
                differences.enum_labels.append(f'"{name}" {detail}')
                differences.database_behind |= bool(lacking)
                differences.models_behind |= bool(unknown)
    return differences


def check_schema(connection, tables, *, described_as: str) -> None:
    """Raise SchemaMismatchError, naming every difference in one line, when the database
    of `connection` does not hold the domain `tables` as the models describe them."""
    differences = schema_differences(connection, tables)
    if not differences:
        return
    expected = {model._meta.db_table for model in models_of(tables)}
    if set(differences.missing_tables) == expected:
        raise SchemaMismatchError(
            f"Database '{connection.alias}' ({described_as}) has none of the platform's tables "
            f"({', '.join(sorted(expected))}): check its URL and ?schema=, or create the "
            "tables (the platform's `prisma migrate deploy`, or this project's migration for "
            "a test copy)."
        )
    raise SchemaMismatchError(
        f"Database '{connection.alias}' ({described_as}) does not match the models: "
        f"{differences.describe()}"
        + (f". {hint[:1].upper()}{hint[1:]}" if (hint := differences.hint()) else "")
        + ". Nothing was read or written."
    )
