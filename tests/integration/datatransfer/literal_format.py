"""A second export format, tiny, registered only by the tests (test_formats.py): the proof
that a format is a plug-in. A document is Python literals, one a line: the metadata, then
for each table `('table', key)` followed by its rows. Nothing in datatransfer/ names it."""

import ast
import io

from datatransfer.exceptions import FileFormatError
from datatransfer.formats import ExportFormat
from datatransfer.formats.document import DocumentReader, DocumentWriter
from datatransfer.formats.source import ExportSource


class LiteralWriter(DocumentWriter):
    """Holds the rows until `finish`, which writes the metadata ahead of them."""

    def __init__(self, stream, *, indent=2):
        super().__init__(stream, indent=indent)
        self._lines = []

    def _begin_table(self, key):
        self._lines.append(repr(("table", key)))

    def _write_row(self, row):
        self._lines.append(repr(row))

    def _end_table(self):
        pass

    def _finish(self, metadata):
        self.stream.write("\n".join([repr(metadata), *self._lines]) + "\n")


class LiteralReader(DocumentReader):
    def __init__(self, source, *, any_version=False):
        self._own_source = not isinstance(source, ExportSource)
        self._source = ExportSource(source) if self._own_source else source
        self.path, self.size = self._source.path, self._source.size
        self._read = self._source.open()
        self._lines = io.TextIOWrapper(io.BufferedReader(self._read), encoding="utf-8")
        self.metadata = self._literal(self._lines.readline())
        self._check_version(any_version)

    def _literal(self, line):
        try:
            return ast.literal_eval(line)
        except (ValueError, SyntaxError):
            raise FileFormatError(f"{self.path} is not a literal export.") from None

    def tables(self):
        key, rows = None, []
        for line in self._lines:
            value = self._literal(line)
            if isinstance(value, tuple):
                if key is not None:
                    yield key, iter(rows)
                key, rows = value[1], []
            else:
                rows.append(value)
        if key is not None:
            yield key, iter(rows)
        self._source.end_read(self._read)

    def close(self):
        if self._own_source:
            self._source.close()


class LiteralFormat(ExportFormat):
    name = "literal"
    suffix = ".lit"

    def reader(self, source, *, any_version=False):
        return LiteralReader(source, any_version=any_version)

    def writer(self, stream, *, indent=2):
        return LiteralWriter(stream, indent=indent)


FORMAT = LiteralFormat()
