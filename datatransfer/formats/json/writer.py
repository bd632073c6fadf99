"""Writing a JSON export: the rows as they come, then the metadata ahead of them."""

import codecs
import contextlib
import io
import json
import shutil
import tempfile

import orjson

from datatransfer.exceptions import Code, DataTransferError
from datatransfer.files import human_size
from datatransfer.formats.document import DocumentWriter
from datatransfer.formats.json.guard import max_value_bytes


class ExportWriter(DocumentWriter):
    """Writes the file as it goes, table by table and row by row.

    With `indent=2` the layout is the old tool's (`JSON.stringify(backup, null, 2)`);
    `indent=None` writes one compact line. Rows go to a temporary file first, while
    their manifest (count and checksum per table) is computed; `finish(metadata)` then
    writes the metadata, manifest included, ahead of them, as the format wants. The rows
    wait as UTF-8 bytes, as orjson makes them: no text is decoded and encoded again per row.
    A write to that temporary file that fails (its folder full, a file size limit) raises
    DataTransferError naming the folder, not the output; `close()` removes the file.
    """

    def __init__(self, stream, *, indent: int | None = 2):
        super().__init__(stream, indent=indent)
        self._spool = tempfile.TemporaryFile()
        self._first_table = True
        self._first_row = True

    def _dumps_bytes(self, value, depth: int) -> bytes:
        # orjson when it can (several times faster); the standard library for what orjson
        # refuses (integers beyond 64 bits in a JSON column). Both spell values alike.
        if self.indent is None:
            try:
                return orjson.dumps(value)
            except TypeError:
                return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        if self.indent == 2:
            try:
                text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
            except TypeError:
                text = json.dumps(value, ensure_ascii=False, indent=2).encode()
        else:
            text = json.dumps(value, ensure_ascii=False, indent=self.indent).encode()
        return text.replace(b"\n", b"\n" + b" " * (self.indent * depth))

    def _dumps(self, value, depth: int) -> str:
        return self._dumps_bytes(value, depth).decode()

    def _spool_write(self, data: bytes) -> None:
        try:
            self._spool.write(data)
        except OSError as error:
            raise _spool_error(error) from error

    def close(self) -> None:
        """Remove the rows' temporary file (done by `finish`; at once after an error). What
        it still buffers is dropped: an error flushing it again must not hide the first."""
        with contextlib.suppress(OSError):
            self._spool.close()

    def _newline(self, depth: int) -> str:
        return "" if self.indent is None else "\n" + " " * (self.indent * depth)

    def _begin_table(self, key: str) -> None:
        sep = ": " if self.indent is not None else ":"
        self._spool_write(
            (
                ("" if self._first_table else ",") + self._newline(2) + json.dumps(key) + sep + "["
            ).encode()
        )
        self._first_table = False
        self._first_row = True

    def _write_row(self, row: dict) -> None:
        separator = ("" if self._first_row else ",") + self._newline(3)
        encoded = self._dumps_bytes(row, 3)
        if len(encoded) > max_value_bytes():
            self._refuse_long_values(row)
        self._spool_write(separator.encode() + encoded)
        self._first_row = False

    def _refuse_long_values(self, row: dict) -> None:
        """Raise DataTransferError when a value of `row`, as the file spells it (a newline is
        `\\n`, two bytes), is longer than the readers take (DATATRANSFER_MAX_VALUE_MB): the
        file would be refused by loaddomain, so it is not written. Checked only for a row
        whose whole spelling is longer than that, so it costs nothing per row."""
        limit = max_value_bytes()
        for field, value in row.items():
            size = max(map(len, _spelled_strings(value)), default=0)
            if size > limit:
                where = f"{self._key} {row['id']}" if "id" in row else self._key
                raise DataTransferError(
                    f"{where}: {field} is {human_size(size)} as the file spells it, longer "
                    f"than {human_size(limit)} (DATATRANSFER_MAX_VALUE_MB), which loaddomain "
                    "would refuse; raise DATATRANSFER_MAX_VALUE_MB here and where the file is "
                    "loaded. No file was written.",
                    code=Code.CANNOT_WRITE,
                )

    def _end_table(self) -> None:
        self._spool_write(("]" if self._first_row else self._newline(2) + "]").encode())

    def _finish(self, metadata: dict) -> None:
        """Write `metadata` ahead of the spooled rows, then the rows."""
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
        try:
            self._spool.seek(0)  # what is still buffered is written now
        except OSError as error:
            raise _spool_error(error) from error
        binary = getattr(self.stream, "buffer", None)
        encoding = getattr(self.stream, "encoding", None)
        if binary is not None and encoding and codecs.lookup(encoding).name == "utf-8":
            self.stream.flush()  # the text so far, then the rows' bytes as they are
            shutil.copyfileobj(self._spool, binary, 1 << 20)
        else:
            rows = io.TextIOWrapper(self._spool, encoding="utf-8", newline="")
            shutil.copyfileobj(rows, self.stream, 1 << 20)
        self._spool.close()
        self.stream.write(
            ("" if self._first_table else self._newline(1)) + "}" + self._newline(0) + "}\n"
        )


def _spelled_strings(value):
    """The JSON spelling of every string in `value` (a JSON column's too)."""
    if isinstance(value, str):
        yield orjson.dumps(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _spelled_strings(key)
            yield from _spelled_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _spelled_strings(item)


def _spool_error(error: OSError) -> DataTransferError:
    """An error of the rows' temporary file, in one line that says where it is: its folder
    (the system's temporary folder) is not the output's."""
    return DataTransferError(
        f"Cannot write the export's temporary file in {tempfile.gettempdir()}: "
        f"{error.strerror or error}.",
        code=Code.CANNOT_WRITE,
    )
