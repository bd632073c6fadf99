"""The export file: its shape, the spelling of its values, and reading and writing it.

Shape (format 1.0 of the existing Node.js tool, kept by 2.0):
`{"metadata": {...}, "data": {"<tableKey>": [{"<fieldKey>": value, ...}, ...], ...}}`.
Times are ISO 8601 in UTC with `Z` (milliseconds, or microseconds when they are not
whole milliseconds, so round trips are exact); dates are written at midnight UTC as
the old tool does; decimals are strings; JSON columns are raw JSON, integers of any size
kept exact; big integers (`BigInt` columns) are strings, which JavaScript reads exactly
where it would round a number above 2^53 (numbers are accepted on reading too).
"""

import bz2
import contextlib
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import stat
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import ijson
import orjson
from django.db import models

from datatransfer.checksums import DigestingWriter
from datatransfer.exceptions import (
    FileChangedError,
    FileFormatError,
    VerificationError,
    escaped,
    one_line,
    quoted,
)
from datatransfer.manifest import TableDigest
from datatransfer.signing import signed

FORMAT_NAME = "domain-export"
FORMAT_VERSION = "2.0"
READABLE_MAJOR_VERSIONS = ("1", "2")
# How deep the file's JSON may nest, the document's own object counting as level 1: the
# data, a table and a row take three more, so a JSON value in a row may nest 96 deep.
# Deeper is refused: no export comes near it, and it costs recursion and memory.
MAX_DEPTH = 100
# Files of format 1 (the Node.js tool) carry no manifest; from 2 on every file has one.
UNVERIFIABLE_MAJOR_VERSIONS = ("1",)


class RowError(ValueError):
    """A value of one row that cannot go into its column; the message names the field."""


SECRET_NOT_SHOWN = "(a secret, not shown)"


# ---------------------------------------------------------------------------- JSON

# An integer literal of 19 digits or more, which orjson may read as a float (it keeps
# integers exact only within 64 bits); a match inside a string only costs a slower parse.
_LONG_INTEGER = re.compile(rb"[-:,\[\s]\d{19}")


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads_json(data: bytes):
    """Parse JSON with every integer exact: orjson, or the standard library when the text
    has an integer orjson would round. Raises ValueError for what is not JSON."""
    if _LONG_INTEGER.search(data) is None:
        return orjson.loads(data)
    return json.loads(data, parse_constant=_refuse_constant)


def dumps_json(value) -> bytes:
    """One compact line of JSON: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _exact_numbers(events):
    """ijson events with fractions as floats: parsed without `use_float`, so that integers
    stay exact whatever their size (yajl's `use_float` refuses those beyond 64 bits)."""
    for prefix, event, value in events:
        if event == "number" and isinstance(value, Decimal):
            value = float(value)
        yield prefix, event, value


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


# ---------------------------------------------------------------------------- writing


class ExportWriter:
    """Writes the file as it goes, table by table and row by row.

    With `indent=2` the layout is the old tool's (`JSON.stringify(backup, null, 2)`);
    `indent=None` writes one compact line. Rows go to a temporary file first, while
    their manifest (count and checksum per table) is computed; `finish(metadata)` then
    writes the metadata, manifest included, ahead of them, as the format wants.
    """

    def __init__(self, stream, *, indent: int | None = 2):
        self.stream = stream
        self.indent = indent
        self.manifest = {}
        self._spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")
        self._digest = None
        self._first_table = True
        self._first_row = True

    def _dumps(self, value, depth: int) -> str:
        # orjson when it can (several times faster); the standard library for what orjson
        # refuses (integers beyond 64 bits in a JSON column). Both spell values alike.
        if self.indent is None:
            try:
                return orjson.dumps(value).decode()
            except TypeError:
                return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if self.indent == 2:
            try:
                text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
            except TypeError:
                text = json.dumps(value, ensure_ascii=False, indent=2)
        else:
            text = json.dumps(value, ensure_ascii=False, indent=self.indent)
        return text.replace("\n", "\n" + " " * (self.indent * depth))

    def _newline(self, depth: int) -> str:
        return "" if self.indent is None else "\n" + " " * (self.indent * depth)

    def begin_table(self, key: str) -> None:
        sep = ": " if self.indent is not None else ":"
        self._spool.write(
            ("" if self._first_table else ",") + self._newline(2) + json.dumps(key) + sep + "["
        )
        self._first_table = False
        self._first_row = True
        self._digest = self.manifest[key] = TableDigest()

    def write_row(self, row: dict) -> None:
        self._spool.write(("" if self._first_row else ",") + self._newline(3) + self._dumps(row, 3))
        self._first_row = False
        self._digest.add(row)

    def end_table(self) -> None:
        self._spool.write("]" if self._first_row else self._newline(2) + "]")

    def finish(self, metadata: dict, *, signing_key: str = "") -> None:
        """Write `metadata` (with `manifest` filled in, and signed when there is a
        `signing_key`: see signing.py) and the rows to the stream."""
        metadata = {
            **metadata,
            "manifest": {
                **metadata.get("manifest", {}),
                "tables": {key: digest.as_dict() for key, digest in self.manifest.items()},
            },
        }
        if signing_key:
            metadata = signed(metadata, signing_key)
        sep = ": " if self.indent is not None else ":"
        self.stream.write(
            "{"
            + self._newline(1)
            + f'"metadata"{sep}'
            + self._dumps(metadata, 1)
            + ","
            + self._newline(1)
            + f'"data"{sep}'
            + "{"
        )
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, self.stream, 1 << 20)
        self._spool.close()
        self.stream.write(
            ("" if self._first_table else self._newline(1)) + "}" + self._newline(0) + "}\n"
        )


# Compression by the file name, as Django's dumpdata/loaddata: one module per suffix.
COMPRESSIONS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}
OUTPUT_SUFFIXES = (".json", *(f".json{suffix}" for suffix in COMPRESSIONS))


def compression_of(path: str):
    """The module (gzip, bz2, lzma) that `path`'s name asks for, or None."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def check_output_path(path: str) -> None:
    """Raise FileFormatError when `path` is not a name an export can take (`.json`,
    optionally `.gz`, `.bz2` or `.xz`), or when its folder does not exist: a missing
    folder is never created behind the user's back."""
    if path == "-":
        return
    if not path.lower().endswith(OUTPUT_SUFFIXES):
        raise FileFormatError(
            f"Cannot write {path}: an export's name ends in {', '.join(OUTPUT_SUFFIXES)}."
        )
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileFormatError(f"Cannot write {path}: the folder {folder} does not exist.")


@contextlib.contextmanager
def open_output(path: str, stdout=None, *, digest=None):
    """Yield a text stream for `path` (`-` is `stdout`, by default sys.stdout; `.gz`, `.bz2`
    and `.xz` are compressed).

    A file is written under a temporary name in the same folder, with mode 0600 (it
    holds password hashes), and renamed only when the block ends without error, so no
    partial file ever stands under the final name. Every byte written to the file (as it
    lies on disk, compressed) is added to `digest` (checksums.FileDigest), if given.
    """
    if path == "-":
        stream = stdout or sys.stdout
        yield stream
        stream.flush()
        return
    target = Path(path)
    with atomic_file(target) as file:
        raw = DigestingWriter(file, digest) if digest is not None else file
        compression = compression_of(path)
        if compression is gzip:
            binary = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
        else:
            binary = compression.open(raw, "wb") if compression else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n", write_through=False)
        yield text
        text.flush()
        text.detach()
        if binary is not raw:
            binary.close()


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a binary file written under a temporary name in `path`'s folder, mode 0600,
    and renamed to `path` only when the block ends without error; on any error (Ctrl-C
    included) the temporary file is removed and nothing stands under `path`."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def unwritable_reason(path) -> str | None:
    """Why no file can be written at `path` (its folder is missing or takes no new file,
    or `path` is a folder), or None when one can. A probe file is created, then removed."""
    target = Path(path)
    if target.is_dir():
        return "it is a folder"
    if not target.parent.is_dir():
        return f"no folder {target.parent}"
    try:
        descriptor, probe = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as error:
        return error.strerror or str(error)
    os.close(descriptor)
    os.unlink(probe)
    return None


# ---------------------------------------------------------------------------- metadata


def excluded_table_keys(path, metadata: dict) -> set[str]:
    """The tables the file says were left out of the export (`excludedTables`): their empty
    lists say nothing about the data, so they are neither loaded nor compared.

    Raises FileFormatError when `excludedTables` is not a list of table keys.
    """
    keys = metadata.get("excludedTables", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise FileFormatError(f"{path}: metadata.excludedTables must be a list of table keys.")
    return set(keys)


def reference_ids(path, metadata: dict, by_key: dict) -> dict[str, set]:
    """{table key: primary keys} of the rows a subset export carries only as references
    (`references`: other organizations' rows, or shared ones, that its rows link to),
    decoded; tables the models lack are ignored.

    Raises FileFormatError when `references` is not {table key: [id, ...]} or an id does
    not fit its table's key.
    """
    listed = metadata.get("references", {})
    if not isinstance(listed, dict) or not all(isinstance(ids, list) for ids in listed.values()):
        raise FileFormatError(f"{path}: metadata.references must map table keys to lists of ids.")
    decoded = {}
    for key, ids in listed.items():
        table = by_key.get(key)
        if table is None:
            continue
        decode = value_decoder(table.pk.field)
        try:
            decoded[key] = {decode(value) for value in ids}
        except (ValueError, TypeError) as error:
            raise FileFormatError(
                f"{path}: metadata.references.{escaped(key)}: {one_line(str(error))}."
            ) from None
    return decoded


# ---------------------------------------------------------------------------- reading

_PARSE_ERRORS = (
    ijson.JSONError,
    UnicodeDecodeError,
    gzip.BadGzipFile,
    lzma.LZMAError,
    EOFError,
    zlib.error,
    OSError,
)


def _error_text(error) -> str:
    """The first line of an error's message, escaped; yajl's messages are sometimes bytes,
    which must not come out as a Python bytes literal."""
    detail = error.args[0] if len(error.args) == 1 else str(error)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    lines = str(detail).strip().splitlines()
    return escaped(lines[0], 120) if lines else ""


def _parse_error(path, error) -> FileFormatError:
    if isinstance(error, ijson.IncompleteJSONError | ijson.JSONError):
        reason = _error_text(error) or "unexpected end"
        return FileFormatError(f"{path} is not valid JSON ({reason}); is the file complete?")
    if isinstance(error, UnicodeDecodeError):
        return FileFormatError(f"{path} is not UTF-8 text.")
    return FileFormatError(f"Cannot read {path}: {error or type(error).__name__}")


# How far the start of a file is looked at for signs that it is not UTF-8 JSON text.
SNIFF_SIZE = 4096
_BYTE_ORDER_MARKS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def text_problem(head: bytes) -> str:
    """Why a file starting with `head` cannot be UTF-8 JSON text, or '': a byte order mark,
    UTF-16 or UTF-32 (by their marks, or the NUL bytes of their ASCII), or binary data."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return f"is {encoding} text (export files are UTF-8)"
    if head.startswith(b"\xef\xbb\xbf"):
        return "starts with a byte order mark (export files are UTF-8 without one)"
    if b"\x00" not in head:
        return ""
    # JSON text starts with two ASCII characters: their NUL bytes tell the encoding.
    zeros = tuple(byte == 0 for byte in head[:4])
    if zeros in ((True, True, True, False), (False, True, True, True)):
        return "is UTF-32 text (export files are UTF-8)"
    if zeros in ((True, False, True, False), (False, True, False, True)):
        return "is UTF-16 text (export files are UTF-8)"
    return "holds binary data (NUL bytes), not JSON text"


def _too_deep(path) -> FileFormatError:
    return FileFormatError(
        f"{path}: its JSON nests deeper than {MAX_DEPTH} levels, far more than an export does."
    )


def _depth_limited(events, error):
    """Pass the ijson `events` through; raise `error()` once containers nest deeper than
    MAX_DEPTH."""
    depth = 0
    for event in events:
        kind = event[1]
        if kind == "start_map" or kind == "start_array":
            depth += 1
            if depth > MAX_DEPTH:
                raise error()
        elif kind == "end_map" or kind == "end_array":
            depth -= 1
        yield event


def nesting(value) -> int:
    """How deep containers nest in `value`: 0 for a scalar, 1 for `[]` or `{"a": 1}`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class ExportSource:
    """The export file, opened once: every read of one import reads these same bytes.

    Each read has its own position on the one descriptor (`pread`), so a file renamed over
    the path once it is open is never seen. Each complete read hashes what it read;
    `end_read` raises FileChangedError when that differs from the first complete read
    (the file was rewritten in place, or grew or shrank). Use it in a `with` block.
    """

    BUFFER_SIZE = 1 << 18

    def __init__(self, path):
        self.path = str(path)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise FileFormatError(f"No such file: {self.path}") from None
        except OSError as error:
            raise FileFormatError(f"Cannot read {self.path}: {error.strerror or error}.") from None
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            raise FileFormatError(f"{self.path} is not a regular file.")
        self._fd = fd
        self.size = status.st_size
        self.sha256 = None  # of the first complete read

    def open(self) -> "_SourceRead":
        """A new read of the file from its first byte (a raw binary stream)."""
        return _SourceRead(self._fd)

    def end_read(self, read: "_SourceRead") -> None:
        """Hash what is left of `read`, to the end of the file; raise FileChangedError when
        the whole differs from the first complete read."""
        digest = read.finish()
        if self.sha256 is None:
            self.sha256 = digest
        elif digest != self.sha256:
            raise FileChangedError(
                f"{self.path} changed while it was read: it is no longer the file that was "
                "checked; nothing was written."
            )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _SourceRead(io.RawIOBase):
    """One read of an ExportSource: its own position, and the SHA-256 of what it read."""

    def __init__(self, fd: int):
        self._fd = fd
        self._position = 0
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = os.preadv(self._fd, [buffer], self._position)
        self._position += count
        self._digest.update(memoryview(buffer)[:count])
        return count

    def finish(self) -> str:
        """Read (and hash) the rest of the file; return the hex SHA-256 of all of it."""
        block = bytearray(1 << 20)
        while self.readinto(block):
            pass
        return self._digest.hexdigest()


class _OpenFile:
    """What both readers share: the open (maybe compressed) file, `with`, the version, and
    the refusal of a table key that repeats."""

    path: str
    metadata: dict
    _table_keys: set

    def _repeated_in_metadata(self, key) -> FileFormatError:
        return FileFormatError(
            f"{self.path}: the key {quoted(key)} appears twice in one object of its metadata."
        )

    def _new_table(self, key) -> None:
        """Note the table `key`; raise FileFormatError when the file named it already (a
        reader could take either copy, and the manifest check only one)."""
        if key in self._table_keys:
            raise FileFormatError(
                f"{self.path}: the table {quoted(key)} appears twice in its data; "
                "a file lists each table once."
            )
        self._table_keys.add(key)

    def _open(self, source) -> None:
        """Open `source` (an ExportSource, or a path opened for this reader alone): set
        `path`, `size` and `_handle`, the binary stream to parse (decompressed when the name
        asks for it: `.gz`, `.bz2`, `.xz`)."""
        self._own_source = not isinstance(source, ExportSource)
        self._source = ExportSource(source) if self._own_source else source
        self.path, self.size = self._source.path, self._source.size
        self._read = self._source.open()
        self._buffered = io.BufferedReader(self._read, ExportSource.BUFFER_SIZE)
        compression = compression_of(self.path)
        self._handle = compression.open(self._buffered, "rb") if compression else self._buffered

    def _end_of_file(self) -> None:
        """The whole document was read: make sure it is the file every other read saw."""
        self._source.end_read(self._read)

    def close(self) -> None:
        self._handle.close()
        self._buffered.close()
        if self._own_source:
            self._source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "1.0"))

    @property
    def major_version(self) -> str:
        return self.version.split(".")[0]

    @property
    def version_supported(self) -> bool:
        return self.major_version in READABLE_MAJOR_VERSIONS

    def _check_version(self, any_version: bool) -> None:
        """Raise VerificationError for a format version this tool does not read, unless
        `any_version` (the file is then read as the current format)."""
        if not any_version and not self.version_supported:
            raise VerificationError(
                f"{self.path} has format version {escaped(self.version)}; "
                "this tool reads versions 1.x and 2.x."
            )


class ExportReader(_OpenFile):
    """Reads an export file (`.gz` too) as a stream: `metadata` first, then `tables()`
    yields each table's rows one by one, so memory does not grow with the file.

    Errors in the file (not JSON, cut short, wrong shape) raise FileFormatError, when
    opening or while iterating.
    """

    # yajl makes the events of one buffer at once, each with its full prefix: a small
    # buffer bounds what a deeply nested file costs before the depth limit stops it.
    PARSE_BUFFER = 4096

    def __init__(self, source, *, any_version=False):
        self._open(source)
        self._any_version = any_version
        events = ijson.parse(self._handle, use_float=False, buf_size=self.PARSE_BUFFER)
        self._events = _depth_limited(_exact_numbers(events), lambda: _too_deep(self.path))
        self.metadata = {}
        self._started_tables = False
        self._table_keys = set()
        self._top_keys = set()
        try:
            self._read_head()
        except FileFormatError:
            self.close()
            raise
        except _PARSE_ERRORS as error:
            self.close()
            raise _parse_error(self.path, error) from None

    def _shape_error(self) -> FileFormatError:
        return FileFormatError(
            f'{self.path} is not a domain export: expected {{"metadata": ..., "data": {{...}}}}.'
        )

    def _top_key(self, key) -> None:
        """Note a key of the top-level object; raise FileFormatError when it repeats."""
        if key in self._top_keys:
            raise FileFormatError(
                f"{self.path}: the key {quoted(key)} appears twice at its top level; "
                "a file has one metadata and one data."
            )
        self._top_keys.add(key)

    def _read_head(self) -> None:
        """Read up to the start of `data`, keeping `metadata`."""
        problem = text_problem(self._handle.peek(SNIFF_SIZE)[:SNIFF_SIZE])
        if problem:
            raise FileFormatError(f"{self.path} {problem}.")
        first = next(self._events, None)
        if first is None or first[1] != "start_map":
            raise self._shape_error()
        for prefix, event, value in self._events:
            if prefix == "" and event == "map_key":
                self._top_key(value)
            if prefix == "" and event == "map_key" and value == "metadata":
                events = _unique_keys(self._value_events("metadata"), self._repeated_in_metadata)
                self.metadata = next(ijson.items(events, "metadata"))
                if not isinstance(self.metadata, dict):
                    raise FileFormatError(f"{self.path}: metadata must be an object.")
            elif prefix == "" and event == "map_key" and value == "data":
                start = next(self._events)
                if start[1] != "start_map":
                    raise self._shape_error()
                break
            elif prefix == "" and event == "map_key":
                for _ in self._value_events(value):
                    pass
            else:
                raise self._shape_error()
        else:
            raise self._shape_error()
        self._check_version(self._any_version)

    def _value_events(self, prefix):
        """Yield the events of the value at `prefix` that starts with the next event."""
        first = next(self._events)
        yield first
        if first[1] not in ("start_map", "start_array"):
            return
        end = "end_map" if first[1] == "start_map" else "end_array"
        for event in self._events:
            yield event
            if event[1] == end and event[0] == prefix:
                return

    def tables(self):
        """Yield (table key, iterator of row dicts) in file order; each iterator must be
        used up (or dropped) before the next table is read."""
        if self._started_tables:
            raise RuntimeError("tables() can be read once")
        self._started_tables = True
        try:
            for prefix, event, key in self._events:
                if prefix == "data" and event == "end_map":
                    self._read_tail()
                    return
                if event != "map_key":
                    raise self._shape_error()
                self._new_table(key)
                rows = self._rows(key)
                yield key, rows
                for _ in rows:  # what the caller left unread
                    pass
        except _PARSE_ERRORS as error:
            raise _parse_error(self.path, error) from None

    def _read_tail(self) -> None:
        """After `data`: skip any other top-level key, and insist on the closing brace and
        the end of the file, so a file cut just after its data is not taken as whole."""
        for prefix, event, value in self._events:
            if prefix == "" and event == "map_key":
                self._top_key(value)
                for _ in self._value_events(value):
                    pass
            elif prefix == "" and event == "end_map":
                for _ in self._events:  # yajl reports anything after the document
                    raise self._shape_error()
                self._end_of_file()
                return
            else:
                raise self._shape_error()
        raise FileFormatError(
            f"{self.path} is not valid JSON (it ends before its closing brace); "
            "is the file complete?"
        )

    def _rows(self, key):
        prefix = f"data.{key}"
        events = self._value_events(prefix)
        try:
            first = next(events)
            if first[1] != "start_array":
                raise FileFormatError(f"Table {quoted(key)} in {self.path} is not a list of rows.")
            for row in ijson.items(_chain_first(first, events), f"{prefix}.item"):
                if not isinstance(row, dict):
                    raise FileFormatError(
                        f"Table {quoted(key)} in {self.path} is not a list of rows."
                    )
                yield row
        except _PARSE_ERRORS as error:
            raise _parse_error(self.path, error) from None


def _unique_keys(events, error):
    """Pass the ijson `events` through; raise `error(key)` for a key that repeats in one
    object."""
    objects = []
    for event in events:
        kind = event[1]
        if kind == "map_key":
            if event[2] in objects[-1]:
                raise error(event[2])
            objects[-1].add(event[2])
        elif kind in ("start_map", "start_array"):
            objects.append(set() if kind == "start_map" else frozenset())
        elif kind in ("end_map", "end_array"):
            objects.pop()
        yield event


def _chain_first(first, rest):
    yield first
    yield from rest


class LayoutMismatch(Exception):
    """The file is not laid out as the two tools write it; read it with ExportReader."""


class LayoutReader(_OpenFile):
    """A fast reader for files laid out as both tools write them (two-space indentation,
    `JSON.stringify(backup, null, 2)`): rows are cut on their lines and each is parsed by
    orjson. Anything else in the layout raises LayoutMismatch (the caller starts over
    with ExportReader, which reads any JSON and words the errors), so it never accepts
    what ExportReader would refuse.
    """

    ROW_START = b"      {\n"
    ROW_ENDS = (b"      }\n", b"      },\n")
    TABLE_ENDS = (b"    ]\n", b"    ],\n")
    # The longest line it reads (a value of several megabytes, or a file on one line,
    # goes to ExportReader, which streams it) instead of reading a line whole.
    MAX_LINE = 1 << 20
    # A row (or the metadata) with this many brackets may nest too deep: measure it.
    _BRACKETS_TO_MEASURE = MAX_DEPTH - 4

    def __init__(self, source, *, any_version=False):
        self._open(source)
        self._table_keys = set()
        try:
            self.metadata = self._read_head()
            self._check_version(any_version)
        except BaseException:
            self.close()
            raise

    def _line(self) -> bytes:
        try:
            line = self._handle.readline(self.MAX_LINE)
        except _PARSE_ERRORS:
            raise LayoutMismatch from None
        if not line.endswith(b"\n"):
            raise LayoutMismatch  # the end of the file, or a line longer than MAX_LINE
        return line

    def _check_depth(self, data: bytes, value, levels_above: int) -> None:
        """Raise FileFormatError when `value` (parsed from `data`), held `levels_above`
        levels down in the document, nests deeper than MAX_DEPTH. Counting brackets is
        cheap and rules out almost every row before measuring."""
        if data.count(b"[") + data.count(b"{") <= self._BRACKETS_TO_MEASURE:
            return
        if levels_above + nesting(value) > MAX_DEPTH:
            raise _too_deep(self.path)

    def _read_head(self) -> dict:
        if self._line() != b"{\n":
            raise LayoutMismatch
        line = self._line()
        metadata = {}
        if line == b'  "metadata": {\n':
            lines = [b"{"]
            while (line := self._line()) not in (b"  },\n",):
                if not line.startswith(b"    "):
                    raise LayoutMismatch
                lines.append(line)
            metadata = self._metadata(b"".join(lines) + b"}")
            line = self._line()
        if line != b'  "data": {\n' or not isinstance(metadata, dict):
            raise LayoutMismatch
        return metadata

    def _metadata(self, data: bytes):
        """The metadata object parsed from `data`; FileFormatError when a key repeats in
        one of its objects (orjson keeps the last copy silently)."""
        metadata = _loads(data)
        self._check_depth(data, metadata, 1)

        def unique(pairs):
            keys = set()
            for key, _ in pairs:
                if key in keys:
                    raise self._repeated_in_metadata(key)
                keys.add(key)
            return None

        try:
            json.loads(data, object_pairs_hook=unique)
        except (ValueError, RecursionError):
            raise LayoutMismatch from None
        return metadata

    def _table_key(self, data: bytes) -> str:
        """The table key spelled by `data` (a JSON string), noted as seen."""
        key = _loads(data)
        if not isinstance(key, str):
            raise LayoutMismatch
        self._new_table(key)
        return key

    def tables(self):
        while True:
            line = self._line()
            if line == b"  }\n":
                # JSON.stringify writes no newline at the end; our writer does.
                try:
                    tail = self._handle.read(3)
                except _PARSE_ERRORS:
                    raise LayoutMismatch from None
                if tail not in (b"}", b"}\n"):
                    raise LayoutMismatch
                self._end_of_file()
                return
            if not line.startswith(b'    "'):
                raise LayoutMismatch
            head = line.rstrip(b",\n")
            if head.endswith(b": []"):
                yield self._table_key(head[4:-4]), iter(())
                continue
            if not head.endswith(b": ["):
                raise LayoutMismatch
            key = self._table_key(head[4:-3])
            rows = self._rows()
            yield key, rows
            for _ in rows:
                pass

    def _rows(self):
        readline, row_ends, limit = self._handle.readline, self.ROW_ENDS, self.MAX_LINE
        try:
            while True:
                line = readline(limit)
                if line in self.TABLE_ENDS:
                    return
                if line != self.ROW_START:
                    if line.endswith(b"\n") and line.strip() in (b"{}", b"{},"):
                        yield {}
                        continue
                    raise LayoutMismatch
                lines = [line]
                while (line := readline(limit)) not in row_ends:
                    if not line.endswith(b"\n"):
                        raise LayoutMismatch  # the file ends inside a row, or a line is too long
                    lines.append(line)
                lines.append(b"}")
                data = b"".join(lines)
                row = _loads(data)
                if not isinstance(row, dict):
                    raise LayoutMismatch
                self._check_depth(data, row, 3)
                yield row
        except _PARSE_ERRORS:
            raise LayoutMismatch from None


def _loads(data: bytes):
    try:
        return loads_json(data)
    except (ValueError, RecursionError):  # too deep for the standard library's parser:
        raise LayoutMismatch from None  # ExportReader refuses it at its depth limit


def open_export(source, *, fast_layout=False, any_version=False):
    """Open an export file (a path, or an ExportSource that several reads share) for
    streaming; use it in a `with` block.

    With `fast_layout`, a file laid out as the tools write it gets the LayoutReader,
    whose iteration may raise LayoutMismatch; otherwise (or when the file starts
    otherwise) the ExportReader, which reads any JSON. Raises FileFormatError for a
    missing or unreadable file, VerificationError for a format version this tool does not
    read, unless `any_version`.
    """
    if fast_layout:
        try:
            return LayoutReader(source, any_version=any_version)
        except LayoutMismatch:
            pass
    return ExportReader(source, any_version=any_version)
