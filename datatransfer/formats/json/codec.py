"""JSON text with every integer exact: the JSON format's own parsing and spelling, also
what PostgreSQL's jsonb columns are written and read with."""

import json

import orjson

# How deep the file's JSON may nest, the document's own object counting as level 1: the
# data, a table and a row take three more, so a JSON value in a row may nest 96 deep.
# Deeper is refused: no export comes near it, and it costs recursion and memory.
MAX_DEPTH = 100
# The most digits a number of the file may have: as many as PostgreSQL's numeric (and so a
# jsonb value) holds before its decimal point, so that every integer a database can hold
# is read and written exactly. Longer numbers are refused.
MAX_INTEGER_DIGITS = 131_072

# An integer literal of 19 digits or more, which orjson may read as a float (it keeps
# integers exact only within 64 bits): a character that may come before a number, then 19
# digits. Found with bytes.translate and a substring search (both in C, seven times faster
# than a regular expression on every row); a match inside a string only costs a slower parse.
_NUMBER_SHAPES = bytes.maketrans(b"123456789-:,[ \t\n\r", b"000000000!!!!!!!!")
_LONG_INTEGER = b"!" + b"0" * 19


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def has_long_integer(data: bytes) -> bool:
    """Whether the JSON text `data` may hold an integer orjson would round."""
    return _LONG_INTEGER in bytes(data).translate(_NUMBER_SHAPES)


def loads_json(data: bytes):
    """Parse JSON with every integer exact: orjson, or the standard library when the text
    has an integer orjson would round. Raises ValueError for what is not JSON."""
    if not has_long_integer(data):
        return orjson.loads(data)
    return json.loads(data, parse_constant=_refuse_constant)


def dumps_json(value) -> bytes:
    """One compact line of JSON: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
