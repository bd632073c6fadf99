"""The export file: its shape, the spelling of its values, and reading and writing it.

Shape (format 1.0 of the existing Node.js tool, kept by 2.0):
`{"metadata": {...}, "data": {"<tableKey>": [{"<fieldKey>": value, ...}, ...], ...}}`.
Times are ISO 8601 in UTC with `Z` (milliseconds, or microseconds when they are not
whole milliseconds, so round trips are exact); dates are written at midnight UTC as
the old tool does; decimals are strings; JSON columns are raw JSON, integers of any size
kept exact; big integers (`BigInt` columns) are strings, which JavaScript reads exactly
where it would round a number above 2^53 (numbers are accepted on reading too).

The package: `codec` spells values and rows, `writer` writes a file (atomically,
compressed by its name), `readers` reads one (its two readers, the source they share and
the lists its metadata holds).
"""

import bz2
import gzip
import lzma
from pathlib import Path

FORMAT_NAME = "domain-export"
FORMAT_VERSION = "2.0"
READABLE_MAJOR_VERSIONS = ("1", "2")
# How deep the file's JSON may nest, the document's own object counting as level 1: the
# data, a table and a row take three more, so a JSON value in a row may nest 96 deep.
# Deeper is refused: no export comes near it, and it costs recursion and memory.
MAX_DEPTH = 100
# The most digits a number of the file may have: as many as PostgreSQL's numeric (and so a
# jsonb value) holds before its decimal point, so that every integer a database can hold
# is read and written exactly. Longer numbers are refused.
MAX_INTEGER_DIGITS = 131_072
# Files of format 1 (the Node.js tool) carry no manifest; from 2 on every file has one.
UNVERIFIABLE_MAJOR_VERSIONS = ("1",)

# Compression by the file name, as Django's dumpdata/loaddata: one module per suffix.
COMPRESSIONS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}


def compression_of(path: str):
    """The module (gzip, bz2, lzma) that `path`'s name asks for, or None."""
    return COMPRESSIONS.get(Path(path).suffix.lower())
