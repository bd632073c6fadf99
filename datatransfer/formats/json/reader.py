"""Reading a JSON export: two readers that stream its rows, the fast one for the tools' own
layout and the one that reads any JSON, behind JsonReader, which starts with the first
and hands over to the second where the layout differs, without reading a row twice."""

import gzip
import io
import itertools
import json
import lzma
import zlib
from decimal import Decimal, InvalidOperation

import ijson

from datatransfer.exceptions import FileFormatError, escaped, quoted
from datatransfer.files import compression_of
from datatransfer.formats import SNIFF_SIZE
from datatransfer.formats.document import DocumentReader
from datatransfer.formats.json.codec import MAX_DEPTH, loads_json
from datatransfer.formats.json.guard import GuardedStream, max_value_bytes
from datatransfer.formats.source import ExportSource


def _exact_numbers(events, stream: GuardedStream):
    """ijson events with fractions as floats: parsed without `use_float`, so that integers
    stay exact whatever their size (yajl's `use_float` refuses those beyond 64 bits). Each
    event is told to `stream`, which sizes its reads by them."""
    seen = stream.event
    for prefix, event, value in events:
        seen()
        if event == "number" and isinstance(value, Decimal):
            value = float(value)
        yield prefix, event, value


# ---------------------------------------------------------------------------- reading

_PARSE_ERRORS = (
    ijson.JSONError,
    UnicodeDecodeError,
    gzip.BadGzipFile,
    lzma.LZMAError,
    EOFError,
    zlib.error,
    OSError,
    InvalidOperation,
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
    if isinstance(error, InvalidOperation):  # an exponent beyond what a decimal holds
        return FileFormatError(f"{path} holds a number out of any range (its exponent).")
    return FileFormatError(f"Cannot read {path}: {error or type(error).__name__}")


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


class _OpenFile(DocumentReader):
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
        stream = GuardedStream(self._handle, self.path)
        events = ijson.parse(stream, use_float=False, buf_size=self.PARSE_BUFFER)
        self._events = _depth_limited(_exact_numbers(events, stream), lambda: _too_deep(self.path))
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
    # goes to ExportReader, which streams it) instead of reading a line whole; less when
    # one value may take less (max_value_bytes), which ExportReader then refuses.
    MAX_LINE = 1 << 20
    # A row (or the metadata) with this many brackets may nest too deep: measure it.
    _BRACKETS_TO_MEASURE = MAX_DEPTH - 4

    def __init__(self, source, *, any_version=False):
        self._max_line = min(self.MAX_LINE, max_value_bytes())
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
            line = self._handle.readline(self._max_line)
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
        readline, row_ends, limit = self._handle.readline, self.ROW_ENDS, self._max_line
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


class JsonReader(DocumentReader):
    """Reads a JSON export (a path, or an ExportSource that several reads share) as a
    stream, in a `with` block: `metadata`, then `tables()`.

    It starts with the LayoutReader; where the file is laid out otherwise, even in the
    middle of a table, the ExportReader takes over at the same row (both yield the same
    rows), so that the caller never sees the difference and no row is handed out twice.
    The source remembers it, and its next reads start with the ExportReader. Raises
    FileFormatError for a missing, unreadable or broken file, VerificationError for a
    format version this tool does not read, unless `any_version`.
    """

    def __init__(self, source, *, any_version=False):
        self._own_source = not isinstance(source, ExportSource)
        self._source = ExportSource(source) if self._own_source else source
        self._any_version = any_version
        self._fast = None  # the LayoutReader, until the ExportReader takes over
        self._reader = None
        try:
            self._open_first()
        except BaseException:
            self.close()
            raise
        self.path, self.size = self._reader.path, self._reader.size
        self.metadata = self._reader.metadata

    def _open_first(self) -> None:
        if self._source.learned.get(_LAYOUT, True):
            try:
                self._fast = self._reader = LayoutReader(
                    self._source, any_version=self._any_version
                )
                return
            except LayoutMismatch:
                self._source.learned[_LAYOUT] = False
        self._reader = ExportReader(self._source, any_version=self._any_version)

    def _take_over(self, tables_done: int):
        """Hand over to the ExportReader: a new read from the start, skipping the
        `tables_done` tables handed out already; return its tables()."""
        self._source.learned[_LAYOUT] = False
        self._fast = None
        self._reader.close()
        self._reader = ExportReader(self._source, any_version=self._any_version)
        tables = self._reader.tables()
        for _ in range(tables_done):
            next(tables)
        return tables

    def tables(self):
        """Yield (table key, iterator of row dicts) in file order; each iterator must be
        used up (or dropped) before the next table is read."""
        tables, handed = self._reader.tables(), 0
        while True:
            try:
                key, rows = next(tables)
            except StopIteration:
                return
            except LayoutMismatch:
                tables = self._take_over(handed)
                continue
            handed += 1
            if self._fast is None:
                yield key, rows
                continue
            taken_over = []
            yield key, self._fast_rows(rows, handed - 1, taken_over)
            if taken_over:
                tables = taken_over[0]

    def _fast_rows(self, rows, tables_before: int, taken_over: list):
        """The rows of the LayoutReader's table; where it stops, the ExportReader's, from
        the row after the last one handed out. Its tables() go to `taken_over`."""
        done = 0
        try:
            for row in rows:
                yield row
                done += 1
        except LayoutMismatch:
            tables = self._take_over(tables_before)
            taken_over.append(tables)
            _, rows = next(tables)
            for _ in itertools.islice(rows, done):
                pass
            yield from rows

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._own_source:
            self._source.close()


# What an ExportSource learns of its file: whether its layout is the tools' own.
_LAYOUT = "json-layout"
