"""What every export format carries, whatever its spelling: the document's name and
version, its metadata (with the manifest, signed or not), and its tables of rows
(formats/rows.py). The bases here hold what a format's reader and writer share, so that a
format only reads and writes its own text.

Shape (format 1.0 of the existing Node.js tool, kept by 2.0): a metadata object, then the
data, `{"<tableKey>": [{"<fieldKey>": value, ...}, ...], ...}`.
"""

from datatransfer.exceptions import FileFormatError, VerificationError, escaped, one_line
from datatransfer.formats.rows import value_decoder
from datatransfer.manifest import TableDigest
from datatransfer.signing import signed

FORMAT_NAME = "domain-export"
FORMAT_VERSION = "2.0"
READABLE_MAJOR_VERSIONS = ("1", "2")
# Files of format 1 (the Node.js tool) carry no manifest; from 2 on every file has one.
UNVERIFIABLE_MAJOR_VERSIONS = ("1",)


class DocumentReader:
    """What every reader tells of its file: `path`, `size`, `metadata` and its version.
    A reader is used in a `with` block; `tables()` yields (table key, iterator of row
    dicts) in file order, each iterator used up (or dropped) before the next table."""

    path: str
    size: int
    metadata: dict

    def close(self) -> None:
        """Release what the reader holds (its own source, if it opened one)."""

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


class DocumentWriter:
    """Writes a document as it goes, table by table and row by row, computing its manifest
    (count and checksum per table); `finish(metadata)` writes the metadata, manifest
    included and signed when there is a key. A format writes its own text in
    `_begin_table`, `_write_row`, `_end_table` and `_finish`; `close()` drops what it
    holds after an error."""

    def __init__(self, stream, *, indent: int | None = 2):
        self.stream = stream
        self.indent = indent
        self.manifest = {}
        self._digest = None
        self._key = None

    def begin_table(self, key: str) -> None:
        self._begin_table(key)
        self._digest = self.manifest[key] = TableDigest()
        self._key = key

    def write_row(self, row: dict) -> None:
        self._write_row(row)
        self._digest.add(row)

    def end_table(self) -> None:
        self._end_table()

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
        self._finish(metadata)

    def close(self) -> None:
        """Drop what the writer holds (done by `finish`; at once after an error)."""

    def _begin_table(self, key: str) -> None:
        raise NotImplementedError

    def _write_row(self, row: dict) -> None:
        raise NotImplementedError

    def _end_table(self) -> None:
        raise NotImplementedError

    def _finish(self, metadata: dict) -> None:
        raise NotImplementedError


def excluded_table_keys(path, metadata: dict) -> set[str]:
    """The tables the file says were left out of the export (`excludedTables`): their empty
    lists say nothing about the data, so they are neither loaded nor compared.

    Raises FileFormatError when `excludedTables` is not a list of table keys.
    """
    keys = metadata.get("excludedTables", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise FileFormatError(f"{path}: metadata.excludedTables must be a list of table keys.")
    return set(keys)


def partial_of(path, metadata: dict) -> dict | None:
    """What a partial file (`partial`: the changes since a time, datatransfer/changes.py)
    says it holds, {"since": ..., "until": ...}, or None for a whole export (or subset):
    a partial file says nothing of the rows it lacks.

    Raises FileFormatError when `partial` is not an object of texts.
    """
    partial = metadata.get("partial")
    if partial is None:
        return None
    if not isinstance(partial, dict) or not all(isinstance(v, str) for v in partial.values()):
        raise FileFormatError(f"{path}: metadata.partial must map since and until to times.")
    return partial


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
