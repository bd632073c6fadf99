"""Which side is behind: the source's schema, recorded in the export, compared with the
target's before the import writes anything.

The export records, in its manifest (so the signature covers it), what the source database
holds for the domain's tables: per table, per column, its type (PostgreSQL's spelling; none
on SQLite), whether it takes NULL and whether it has a default; the labels of the enums the
models use; and, when the database has Prisma's `_prisma_migrations` table, the names of the
migrations applied there. Names are the database's (`User.nickname`), as in schema.prisma.

The import reads that record from the file's head and compares it with the target:

- the file has tables, columns or enum labels that the target lacks: the target's
  migrations are behind: refused, naming them (SchemaMismatchError, exit 2);
- the target has columns the file lacks: the file's source was behind. A column that takes
  NULL or has a default keeps its value in an updated row and gets NULL or its default in
  a created row (a note says which); a required column without a default is refused;
- when both sides record Prisma's migrations, those one side lacks are named.

A file without the record (format 1.0, or 2.0 from before it) is not compared: it loads as
before, and the schema check of databases.py alone applies.
"""

from dataclasses import dataclass, field

from datatransfer.exceptions import SchemaMismatchError, VerificationError, escaped
from datatransfer.schemacheck import (
    column_details,
    models_of,
    postgres_enum_labels,
)

RECORD = "sourceSchema"  # the record's key in the manifest
PRISMA_MIGRATIONS = "_prisma_migrations"
SHOWN = 20  # names shown in one message, at most


def _enum_fields(models) -> dict:
    """{enum name: a model field of that enum} over the columns of `models`."""
    return {
        model_field.enum_name: model_field
        for model in models
        for model_field in model._meta.concrete_fields
        if getattr(model_field, "enum_name", None)
    }


def applied_migrations(connection) -> list[str] | None:
    """The names of the Prisma migrations applied to the database (finished, not rolled
    back), sorted; None when it has no `_prisma_migrations` table."""
    if PRISMA_MIGRATIONS not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT migration_name FROM {connection.ops.quote_name(PRISMA_MIGRATIONS)} "
            "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
        )
        return sorted({name for (name,) in cursor.fetchall()})


def database_schema(connection, tables) -> dict:
    """The record of what the database of `connection` holds for the domain `tables` (see
    the module's docstring): {"vendor", "tables", "enums"[, "migrations"]}.

    Enum labels are the database's on PostgreSQL; elsewhere a column is plain text, and the
    labels are those the models accept."""
    models = models_of(tables)
    names = [model._meta.db_table for model in models]
    found = column_details(connection, names)
    enums = _enum_fields(models)
    if connection.vendor == "postgresql":
        labels = postgres_enum_labels(connection, enums)
    else:
        labels = {name: [str(label) for label in f.labels] for name, f in enums.items()}
    record = {
        "vendor": connection.vendor,
        "tables": {
            table: {
                name: {"type": column.type, "null": column.null, "default": column.default}
                for name, column in sorted(columns.items())
            }
            for table, columns in sorted(found.items())
        },
        "enums": {name: list(labels[name]) for name in sorted(labels)},
    }
    if (migrations := applied_migrations(connection)) is not None:
        record["migrations"] = migrations
    return record


def record_of(path, metadata: dict) -> dict | None:
    """The file's record of its source's schema, or None for a file without one.
    VerificationError (code NOT_VERIFIED) when it is not shaped as this tool writes it."""
    manifest = metadata.get("manifest")
    record = manifest.get(RECORD) if isinstance(manifest, dict) else None
    if record is None:
        return None
    tables = record.get("tables") if isinstance(record, dict) else None
    enums = record.get("enums") if isinstance(record, dict) else None
    migrations = record.get("migrations", []) if isinstance(record, dict) else None
    if not (
        isinstance(tables, dict)
        and all(
            isinstance(columns, dict) and all(isinstance(c, dict) for c in columns.values())
            for columns in tables.values()
        )
        and isinstance(enums, dict)
        and all(isinstance(labels, list) for labels in enums.values())
        and isinstance(migrations, list)
    ):
        raise VerificationError(
            f"{path}: its record of the source's schema (manifest.{RECORD}) is damaged; "
            "nothing was written."
        )
    return record


@dataclass
class SchemaGap:
    """How the file's source and the target differ."""

    # The file has them, the target lacks them: (table, column or None for the whole table)
    # and (enum, label).
    missing_columns: list[tuple[str, str | None]] = field(default_factory=list)
    missing_labels: list[tuple[str, str]] = field(default_factory=list)
    # The target has them, the file lacks them.
    file_lacks: list[tuple[str, str | None]] = field(default_factory=list)
    other_types: list[str] = field(default_factory=list)
    source_only_migrations: list[str] = field(default_factory=list)
    target_only_migrations: list[str] = field(default_factory=list)

    def __bool__(self):
        return any(vars(self).values())

    @property
    def target_lacks(self) -> list[str]:
        """The names of what the file has and the target lacks."""
        return [_name(table, column) for table, column in self.missing_columns] + [
            f"{enum}.{label}" for enum, label in self.missing_labels
        ]


def _name(table, column) -> str:
    return table if column is None else f"{table}.{column}"


def compare_schemas(record: dict, target: dict) -> SchemaGap:
    """What differs between the file's `record` and the `target`'s (database_schema).
    Types are compared where both sides name them, labels for enums both sides have,
    migrations where both sides record them."""
    gap = SchemaGap()
    mine, theirs = record.get("tables", {}), target.get("tables", {})
    for table in sorted(set(mine) | set(theirs)):
        if table not in theirs:
            gap.missing_columns.append((table, None))
            continue
        if table not in mine:
            gap.file_lacks.append((table, None))
            continue
        have, want = theirs[table], mine[table]
        gap.missing_columns += [(table, c) for c in sorted(set(want) - set(have))]
        gap.file_lacks += [(table, c) for c in sorted(set(have) - set(want))]
        for name in sorted(set(want) & set(have)):
            source_type, target_type = want[name].get("type"), have[name].get("type")
            if source_type and target_type and source_type != target_type:
                gap.other_types.append(
                    f"{table}.{name} is {escaped(source_type)} in the file's source, "
                    f"{target_type} here"
                )
    source_enums, target_enums = record.get("enums", {}), target.get("enums", {})
    for enum in sorted(set(source_enums) & set(target_enums)):
        known = set(target_enums[enum])
        gap.missing_labels += [(enum, label) for label in source_enums[enum] if label not in known]
    if "migrations" in record and "migrations" in target:
        source, applied = set(record["migrations"]), set(target["migrations"])
        gap.source_only_migrations = sorted(source - applied)
        gap.target_only_migrations = sorted(applied - source)
    return gap


def _listed(names) -> str:
    names = [escaped(name) for name in names]
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _model_columns(tables) -> dict:
    """{(table, column): model field} of the domain's models, link tables included."""
    return {
        (model._meta.db_table, model_field.column): model_field
        for model in models_of(tables)
        for model_field in model._meta.concrete_fields
    }


def _unknown_to_models(item, columns) -> bool:
    """Whether the models lack a (table, column or None) that the file has."""
    table, column = item
    if column is None:
        return not any(known == table for known, _ in columns)
    return (table, column) not in columns


def _default_text(model_field) -> str:
    """What a created row gets for `model_field` when the file has no value for it."""
    if not model_field.has_default():
        return "NULL"
    default = model_field.default
    if callable(default):
        return f"{getattr(default, '__name__', 'its default')}()"
    return escaped(getattr(default, "value", default))


def _migrations_phrase(gap, target_name) -> list[str]:
    phrases = []
    if gap.source_only_migrations:
        phrases.append(
            f"the file's source had the migrations {_listed(gap.source_only_migrations)} "
            f"that {target_name} lacks"
        )
    if gap.target_only_migrations:
        phrases.append(
            f"{target_name} has the migrations {_listed(gap.target_only_migrations)} that the "
            "file's source lacked"
        )
    return phrases


def check_target(record, connection, tables, *, described_as, ignore_unknown=False) -> list:
    """Compare the file's `record` with the database of `connection`; return the notes for
    the report, or raise SchemaMismatchError (nothing written) when the target lacks what
    the file has, or requires a column the file lacks. With `ignore_unknown`, columns and
    tables that the models lack too are skipped (noted) rather than refused: the import
    leaves them out, as asked."""
    gap = compare_schemas(record, database_schema(connection, tables))
    if not gap:
        return []
    target_name = f"database '{connection.alias}' ({described_as})"
    columns = _model_columns(tables)
    skipped = []
    if ignore_unknown:
        skipped = [item for item in gap.missing_columns if _unknown_to_models(item, columns)]
        gap.missing_columns = [item for item in gap.missing_columns if item not in skipped]
    if gap.target_lacks:
        _refuse_behind_target(gap, target_name, columns)
    required = [
        _name(table, column)
        for table, column in gap.file_lacks
        if (model_field := columns.get((table, column))) is not None
        and not model_field.null
        and not model_field.has_default()
    ]
    if required:
        raise SchemaMismatchError(
            f"The file's source is behind {target_name}: the file has no values for "
            f"{_listed(required)}, required there (not NULL, no default), so no row could be "
            f"created{''.join('; ' + p for p in _migrations_phrase(gap, target_name))}. Run "
            "`prisma migrate deploy` on the source and export again. Nothing was written."
        )
    return _notes(gap, target_name, columns, skipped)


def _refuse_behind_target(gap, target_name, columns):
    lacking = gap.target_lacks
    phrases = [f"it lacks {_listed(lacking)} that the file has"]
    phrases += _migrations_phrase(gap, "it")[:1]
    unknown_to_models = [
        _name(*item) for item in gap.missing_columns if _unknown_to_models(item, columns)
    ]
    models = (
        f" This tool's models lack {_listed(unknown_to_models)} too: copy the source's "
        "schema.prisma into core/prisma/ and run `python manage.py inspectprisma`."
        if unknown_to_models
        else ""
    )
    raise SchemaMismatchError(
        f"{target_name[:1].upper()}{target_name[1:]} is behind the file's source: "
        f"{'; '.join(phrases)}. Its migrations are behind: run `prisma migrate deploy` there, "
        f"then import again.{models} Nothing was written."
    )


def _notes(gap, target_name, columns, skipped) -> list[str]:
    notes = []
    fates = [
        f"{_name(table, column)} ({_default_text(columns[table, column])} in a created row)"
        for table, column in gap.file_lacks
        if column is not None and (table, column) in columns
    ]
    whole = [table for table, column in gap.file_lacks if column is None]
    if fates or whole:
        parts = []
        if fates:
            parts.append(
                f"it has no values for {_listed(fates)}; an updated row keeps its value there"
            )
        if whole:
            parts.append(f"it has no table {_listed(whole)}, left as it is")
        notes.append(
            f"The file was made from an older schema than {target_name}: " + "; ".join(parts) + "."
        )
    if skipped:
        notes.append(
            f"The file's source had {_listed([_name(*item) for item in skipped])}, which "
            f"{target_name} and the models lack: their values were skipped, as asked."
        )
    if gap.other_types:
        notes.append(
            f"Columns of another type: {_listed(gap.other_types)}; values are checked one by one."
        )
    if migrations := _migrations_phrase(gap, target_name):
        phrase = "; ".join(migrations)
        notes.append(f"Prisma migrations: {phrase}.")
    return notes
