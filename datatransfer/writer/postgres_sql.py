"""The SQL of the PostgreSQL backend's set-based path (postgres.py): how the server checks
that a staged row is spelled as the tools write it and types it (`typed_column`), and the
statements of one table, by name (`TableSQL`).
"""

from dataclasses import dataclass

from django.db import models

STAGE, TYPED, PLAN, LINKS = "dt_stage", "dt_typed", "dt_plan", "dt_links"


# The spellings the server types itself, each a value the codec reads too: a time of day
# from 00:00:00 to 23:59:59 (the server would read 24:00:00 as the next day and a leap
# second as the next minute, where the codec refuses both), no word (`epoch`, `infinity`,
# `today`, `allballs`). Any other spelling sends its table to the Writer's walk, whose
# codec refuses the row as the reference does.
_DAY = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = rf"^{_DAY}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{{1,3}})?Z$"
_DATE = rf"^{_DAY}(T00:00:00(\.0{{1,3}})?Z)?$"


def literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class Unsupported(Exception):
    """A field whose file spelling this path does not type itself."""


def typed_column(field, key: str, connection, secret: bool) -> tuple[str, str]:
    """(the SQL condition that the row's JSON `j` spells the field's value `key` as the
    tools write it, the SQL expression of the typed value). The condition holds only for
    spellings the walk decodes to the very same value; a row that fails it sends
    its table to the walk."""
    key = literal(key)
    value, text = f"(j->{key})", f"(j->>{key})"
    kind = f"jsonb_typeof{value}"
    null = f"{kind} = 'null'" if field.null else "false"
    if isinstance(field, models.JSONField):
        return f"j ? {key}", f"NULLIF({value}, 'null'::jsonb)"
    target = field.target_field if field.is_relation else field
    db_type = field.db_type(connection)  # a foreign key's: its target's column type
    if db_type is None:
        raise Unsupported(key)
    expression = f"{text}::{db_type}"
    if isinstance(target, models.DateTimeField):
        shape = f"{kind} = 'string' AND {text} ~ {literal(_TIME)} AND left({text}, 4) <> '0000'"
    elif isinstance(target, models.DateField):
        shape = f"{kind} = 'string' AND {text} ~ {literal(_DATE)} AND left({text}, 4) <> '0000'"
        expression = f"left({text}, 10)::date"
    elif isinstance(target, models.DecimalField):
        whole, places = target.max_digits - target.decimal_places, target.decimal_places
        fraction = f"(\\.[0-9]{{1,{places}}})?" if places else ""
        shape = f"{kind} = 'string' AND {text} ~ {literal(f'^-?[0-9]{{1,{whole}}}{fraction}$')}"
    elif isinstance(target, models.BooleanField):
        shape = f"{kind} = 'boolean'"
    elif isinstance(target, models.IntegerField | models.AutoField):
        big = isinstance(target, models.BigIntegerField | models.BigAutoField)
        pattern = "^-?[0-9]{1,18}$" if big else "^-?[0-9]{1,9}$"
        shape = f"{kind} IN ('number', 'string') AND {text} ~ {literal(pattern)}"
    elif isinstance(target, models.CharField | models.TextField):
        shape = _text_shape(target, kind, text, secret)
    else:
        raise Unsupported(key)
    return f"j ? {key} AND ({null} OR ({shape}))", expression


def _text_shape(target, kind: str, text: str, secret: bool) -> str:
    """The condition on a text's spelling: a string that fits the column (and its choices);
    an empty secret never replaces a set one: the walk decides."""
    shape = f"{kind} = 'string'"
    if target.max_length:
        shape += f" AND char_length({text}) <= {int(target.max_length)}"
    if target.choices:
        labels = ", ".join(literal(str(choice)) for choice, _ in target.flatchoices)
        shape += f" AND {text} IN ({labels})"
    if secret:
        shape += f" AND {text} <> ''"
    return shape


@dataclass(frozen=True)
class Link:
    """A many-to-many key of the file, as SQL names: the link table, its two columns, and
    the related table with the column the file's keys name (its natural key, or its id)."""

    spec: object  # registry.ManyToManySpec
    table: str
    owner: str
    target: str
    related: str
    related_pk: str
    related_key: str
    alias: str  # the typed table's column holding the row's keys (a JSON array)


class TableSQL:
    """The names and expressions of one table's set-based statements."""

    def __init__(self, table, connection):
        quote = connection.ops.quote_name
        self.table = table
        self.quote = quote
        self.target = quote(table.model._meta.db_table)
        self.pk = quote(table.pk.field.column)
        secrets = table.secret_keys
        self.columns = []  # (FieldSpec, quoted column, condition, typed expression)
        for spec in table.fields:
            condition, expression = typed_column(
                spec.field, spec.key, connection, spec.key in secrets
            )
            self.columns.append((spec, quote(spec.field.column), condition, expression))
        self.links = []
        for number, spec in enumerate(table.many_to_many):
            through = spec.through._meta
            related = spec.related_model._meta
            natural = related.get_field(spec.natural_field) if spec.natural_field else related.pk
            self.links.append(
                Link(
                    spec,
                    quote(through.db_table),
                    quote(through.get_field(spec.field.m2m_field_name()).column),
                    quote(through.get_field(spec.field.m2m_reverse_field_name()).column),
                    quote(related.db_table),
                    quote(related.pk.column),
                    quote(natural.column),
                    f"_m2m_{number}",
                )
            )
        self.deferred = {spec.attname for spec in table.deferred}

    @property
    def names(self) -> list[str]:
        return [name for _, name, _, _ in self.columns]

    @property
    def content_names(self) -> list[str]:
        return [name for spec, name, _, _ in self.columns if not spec.field.primary_key]

    def row(self, alias: str, names=None) -> str:
        return "(" + ", ".join(f"{alias}.{name}" for name in names or self.names) + ")"

    def typed(self) -> str:
        """The statement typing the staged rows, with each row's `clean` verdict."""
        clean = " AND ".join(f"({condition})" for _, _, condition, _ in self.columns)
        for link in self.links:
            key = literal(link.spec.key)
            clean += (
                f" AND jsonb_typeof(j->{key}) = 'array' AND NOT EXISTS (SELECT 1 FROM "
                f"jsonb_array_elements(j->{key}) AS e WHERE jsonb_typeof(e) <> 'string') "
                f"AND jsonb_array_length(j->{key}) = (SELECT count(DISTINCT e) FROM "
                f"jsonb_array_elements(j->{key}) AS e)"
            )
        values = [
            f"CASE WHEN _clean THEN {expression} END AS {name}"
            for _, name, _, expression in self.columns
        ]
        values += [f"j->{literal(link.spec.key)} AS {link.alias}" for link in self.links]
        label = literal(self.table.pk.key)
        return (
            # OFFSET 0 keeps each subquery whole: the JSON is parsed once per row, and the
            # verdict computed once, not once per column that uses it.
            f"CREATE TEMP TABLE {TYPED} ON COMMIT DROP AS "
            f"SELECT _n, _clean, j->>{label} AS _label, {', '.join(values)} "
            f"FROM (SELECT _n, doc::jsonb AS j FROM {STAGE} OFFSET 0) AS parsed, "
            f"LATERAL (SELECT jsonb_typeof(j) = 'object' AND {clean} AS _clean OFFSET 0) AS checked"
        )

    def linked(self, refused_parameter: bool) -> str:
        """The condition that every link of the row `s` (written now) names a row the
        target holds; a link written last names a row no refusal touched."""
        quote, conditions = self.quote, []
        for spec in self.table.fields:
            if not spec.field.is_relation:
                continue
            column = f"s.{quote(spec.field.column)}"
            if spec.attname in self.deferred:
                if refused_parameter:
                    conditions.append(f"NOT ({column}::text = ANY(%(refused)s))")
                continue
            parent = quote(spec.field.related_model._meta.db_table)
            parent_pk = quote(spec.field.target_field.column)
            conditions.append(
                f"({column} IS NULL OR EXISTS (SELECT 1 FROM {parent} AS p "
                f"WHERE p.{parent_pk} = {column}))"
            )
        return " AND ".join(conditions) or "true"

    def later(self, spec) -> str:
        """The condition that the row `s`'s link `spec` (written last) must wait: it names a
        row neither the target nor this table's rows hold."""
        column = f"s.{self.quote(spec.field.column)}"
        model = spec.field.related_model
        parent = self.quote(model._meta.db_table)
        parent_pk = self.quote(spec.field.target_field.column)
        condition = (
            f"{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} AS p "
            f"WHERE p.{parent_pk} = {column})"
        )
        if model is self.table.model:
            condition += (
                f" AND NOT EXISTS (SELECT 1 FROM {TYPED} AS o WHERE o.{self.pk} = {column})"
            )
        return condition
