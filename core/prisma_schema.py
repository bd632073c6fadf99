"""A small reader of Prisma schemas (`schema.prisma`): models, fields, enums, attributes.

Only what the platform's models are made from is read; `generator`, `datasource`, `view` and
`type` blocks are skipped. A malformed line raises `PrismaSchemaError` naming it.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal


class PrismaSchemaError(ValueError):
    """The schema cannot be read, or says something the models cannot mirror."""


@dataclass(frozen=True)
class Name:
    """A bare identifier in an attribute's arguments (`USER`, `Cascade`, `true` is a bool)."""

    name: str


@dataclass(frozen=True)
class Call:
    """A function in an attribute's arguments: `now()`, `cuid()`, `dbgenerated("...")`."""

    name: str
    args: tuple = ()


@dataclass(frozen=True)
class Attribute:
    """`@name(args)` on a field or `@@name(args)` on a block (`name` without the `@`s).

    `args` are the positional arguments, `kwargs` the named ones (`map: "x"`)."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def arg(self, key: str, position: int = 0):
        """The argument named `key`, else the positional one at `position`, else None."""
        if key in self.kwargs:
            return self.kwargs[key]
        return self.args[position] if len(self.args) > position else None


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    optional: bool = False
    list: bool = False
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    @property
    def native_type(self) -> Attribute | None:
        """The `@db.*` attribute (its name without `db.`), if any."""
        for attribute in self.attributes:
            if attribute.name.startswith("db."):
                return Attribute(attribute.name[3:], attribute.args, attribute.kwargs)
        return None

    @property
    def column(self) -> str:
        mapped = self.attribute("map")
        return mapped.arg("name") if mapped else self.name


@dataclass(frozen=True)
class Model:
    name: str
    fields: tuple[Field, ...] = ()
    attributes: tuple[Attribute, ...] = ()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def block_attributes(self, name: str) -> list[Attribute]:
        return [a for a in self.attributes if a.name == name]

    @property
    def table(self) -> str:
        mapped = self.block_attributes("map")
        return mapped[0].arg("name") if mapped else self.name


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...] = ()  # the names in the schema
    labels: tuple[str, ...] = ()  # what the database holds (a value's @map, else its name)
    db_name: str = ""  # the PostgreSQL type (@@map, else the name)


@dataclass(frozen=True)
class Schema:
    models: dict[str, Model]
    enums: dict[str, Enum]


_BLOCK = re.compile(r"^(model|enum|generator|datasource|view|type)\s+(\w+)\s*\{$")
_FIELD = re.compile(
    r'^(?P<name>\w+)\s+(?P<type>Unsupported\("(?:[^"\\]|\\.)*"\)|\w+)'
    r"(?P<list>\[\])?(?P<optional>\?)?(?P<rest>.*)$"
)
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)'
    r"|(?P<name>[A-Za-z_][\w.]*)|(?P<punct>[()\[\],:]))"
)


def parse_schema(text: str) -> Schema:
    """The models and enums of a Prisma schema's `text`. Raises PrismaSchemaError."""
    models: dict[str, Model] = {}
    enums: dict[str, Enum] = {}
    block: tuple[str, str, int] | None = None
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if block is None:
            match = _BLOCK.match(line)
            if not match:
                raise PrismaSchemaError(f"line {number}: expected a block, found {line!r}")
            block, lines = (match[1], match[2], number), []
        elif line == "}":
            kind, name, start = block
            if name in models or name in enums:
                raise PrismaSchemaError(f"line {start}: {name} is defined twice")
            if kind == "model":
                models[name] = _model(name, lines)
            elif kind == "enum":
                enums[name] = _enum(name, lines)
            block = None
        else:
            lines.append((number, line))
    if block is not None:
        raise PrismaSchemaError(f"line {block[2]}: {block[0]} {block[1]} is never closed")
    return Schema(models=models, enums=enums)


def _strip_comment(line: str) -> str:
    in_string = False
    for index, char in enumerate(line):
        if char == '"' and (index == 0 or line[index - 1] != "\\"):
            in_string = not in_string
        elif not in_string and line.startswith("//", index):
            return line[:index]
    return line


def _model(name: str, lines: list[tuple[int, str]]) -> Model:
    fields, attributes = [], []
    for number, line in lines:
        if line.startswith("@@"):
            attributes.extend(_attributes(line, number))
            continue
        match = _FIELD.match(line)
        if not match:
            raise PrismaSchemaError(f"line {number}: cannot read the field {line!r} of {name}")
        _refuse_twice(name, match["name"], [field.name for field in fields], number)
        fields.append(
            Field(
                name=match["name"],
                type=match["type"],
                optional=bool(match["optional"]),
                list=bool(match["list"]),
                attributes=tuple(_attributes(match["rest"], number)),
            )
        )
    return Model(name=name, fields=tuple(fields), attributes=tuple(attributes))


def _enum(name: str, lines: list[tuple[int, str]]) -> Enum:
    values, labels, db_name = [], [], name
    for number, line in lines:
        if line.startswith("@@"):
            for attribute in _attributes(line, number):
                if attribute.name == "map":
                    db_name = attribute.arg("name")
            continue
        value, _, rest = line.partition(" ")
        if not re.fullmatch(r"\w+", value):
            raise PrismaSchemaError(f"line {number}: cannot read the value {line!r} of {name}")
        _refuse_twice(name, value, values, number)
        mapped = next((a for a in _attributes(rest, number) if a.name == "map"), None)
        values.append(value)
        labels.append(mapped.arg("name") if mapped else value)
    return Enum(name=name, values=tuple(values), labels=tuple(labels), db_name=db_name)


def _refuse_twice(block: str, name: str, seen: list[str], number: int) -> None:
    """A field or label named twice in one block: Prisma refuses it, and a model would keep
    only the last one silently."""
    if name in seen:
        raise PrismaSchemaError(f"line {number}: {block}.{name} is defined twice")


def _attributes(text: str, number: int) -> list[Attribute]:
    """The `@x(...)` / `@@x(...)` attributes written in `text`."""
    tokens = _tokens(text, number)
    attributes, position = [], 0
    while position < len(tokens):
        kind, value = tokens[position]
        if kind != "at":
            raise PrismaSchemaError(f"line {number}: unexpected {value!r}")
        if position + 1 >= len(tokens) or tokens[position + 1][0] != "name":
            raise PrismaSchemaError(f"line {number}: an attribute without a name")
        name = tokens[position + 1][1]
        position += 2
        args, kwargs = (), {}
        if position < len(tokens) and tokens[position] == ("punct", "("):
            args, kwargs, position = _arguments(tokens, position + 1, number)
        attributes.append(Attribute(name=name, args=tuple(args), kwargs=kwargs))
    return attributes


def _tokens(text: str, number: int) -> list[tuple[str, object]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        if text[position] == "@":
            position += 2 if text.startswith("@@", position) else 1
            tokens.append(("at", "@"))
            continue
        match = _TOKEN.match(text, position)
        if not match:
            raise PrismaSchemaError(f"line {number}: cannot read {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup
        tokens.append((kind, match[kind]))
    return tokens


def _arguments(tokens, position: int, number: int):
    """Read `a, b, key: c)` from `position` (just past the parenthesis); return args, kwargs
    and the position past the closing parenthesis."""
    args, kwargs = [], {}
    while True:
        if position >= len(tokens):
            raise PrismaSchemaError(f"line {number}: a parenthesis is never closed")
        if tokens[position] == ("punct", ")"):
            return args, kwargs, position + 1
        if (
            tokens[position][0] == "name"
            and position + 1 < len(tokens)
            and tokens[position + 1] == ("punct", ":")
        ):
            key = tokens[position][1]
            value, position = _value(tokens, position + 2, number)
            kwargs[key] = value
        else:
            value, position = _value(tokens, position, number)
            args.append(value)
        if position < len(tokens) and tokens[position] == ("punct", ","):
            position += 1


def _value(tokens, position: int, number: int):
    if position >= len(tokens):
        raise PrismaSchemaError(f"line {number}: an argument is missing")
    kind, text = tokens[position]
    if kind == "string":
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\"), position + 1
    if kind == "number":
        return (Decimal(text) if "." in text else int(text)), position + 1
    if kind == "punct" and text == "[":
        items, position = [], position + 1
        while tokens[position] != ("punct", "]"):
            item, position = _value(tokens, position, number)
            items.append(item)
            if tokens[position] == ("punct", ","):
                position += 1
        return tuple(items), position + 1
    if kind == "name":
        if text in ("true", "false"):
            return text == "true", position + 1
        if position + 1 < len(tokens) and tokens[position + 1] == ("punct", "("):
            args, _kwargs, position = _arguments(tokens, position + 2, number)
            return Call(text, tuple(args)), position
        return Name(text), position + 1
    raise PrismaSchemaError(f"line {number}: unexpected {text!r}")
