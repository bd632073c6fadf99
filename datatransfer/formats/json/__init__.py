"""The JSON format, the default: `{"metadata": {...}, "data": {"<tableKey>": [{...}, ...]}}`,
laid out as the old tool writes it (`JSON.stringify(backup, null, 2)`) or on one line.

`codec` parses and spells JSON text with every integer exact, `writer` writes a document,
`reader` reads one (a fast reader for the tools' own layout, and one that reads any JSON,
taken over by the first where the layout differs), `guard` checks the bytes the
streaming parser reads, and `server` spells rows on PostgreSQL (`json_build_object`).
"""

from datatransfer.formats import ExportFormat
from datatransfer.formats.json.guard import allow_long_integers
from datatransfer.formats.json.reader import JsonReader, text_problem
from datatransfer.formats.json.server import spelled_rows
from datatransfer.formats.json.writer import ExportWriter

_SPACE = b" \t\r\n"


class JsonFormat(ExportFormat):
    name = "json"
    suffix = ".json"

    def reader(self, source, *, any_version=False):
        return JsonReader(source, any_version=any_version)

    def writer(self, stream, *, indent=2):
        return ExportWriter(stream, indent=indent)

    def server_rows(self, table, queryset, connection, *, exclude_secrets=False):
        return spelled_rows(table, queryset, connection, exclude_secrets=exclude_secrets)

    def head_problem(self, head: bytes) -> str:
        problem = text_problem(head)
        if not problem and not head.lstrip(_SPACE).startswith(b"{"):
            problem = "is not JSON (an export starts with `{`)"
        return problem

    def prepare(self) -> None:
        # A JSON column's integer of any size a database holds is read and written exactly.
        allow_long_integers()


FORMAT = JsonFormat()
