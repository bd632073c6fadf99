"""The writers a test can import with, by name: "oracle", the row-by-row reference
(tests/oracle/reference.py); "portable", the Writer with its portable backend (any
database); "postgresql", the Writer with the backend it takes on PostgreSQL. Production
never chooses (the Writer takes its backend from the database): tests do, to compare them.

`WRITERS_ON[vendor]` are the oracle and the writer an import takes on that database;
`WRITER_NAMES` those of this run's database (DATABASE_URL: PostgreSQL or SQLite). The
parity test compares more (`PARITY_WRITERS_ON`): on PostgreSQL the portable backend too,
which no import takes there (a dry run of it would move a sequence, for one). A test
parametrized with `written_by` (indirect: the fixture of tests/conftest.py) imports with
that writer.
"""

import os

import datatransfer.importer
import datatransfer.writer.writer
from datatransfer.writer import Writer
from datatransfer.writer.portable import PortableBackend
from tests.oracle.reference import ReferenceWriter

ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

WRITERS_ON = {"sqlite": ["oracle", "portable"], "postgresql": ["oracle", "postgresql"]}
PARITY_WRITERS_ON = {**WRITERS_ON, "postgresql": ["oracle", "portable", "postgresql"]}
WRITER_NAMES = WRITERS_ON["postgresql" if ON_POSTGRESQL else "sqlite"]


def writer_class(name: str) -> type:
    """The class that writes for the writer `name`."""
    return ReferenceWriter if name == "oracle" else Writer


def use_writer(monkeypatch, name: str) -> None:
    """Make every import until `monkeypatch` is undone write with the writer `name`."""
    if name == "oracle":
        monkeypatch.setattr(datatransfer.importer, "Writer", ReferenceWriter)
    elif name == "portable":
        monkeypatch.setattr(
            datatransfer.writer.writer, "backend_for", lambda vendor: PortableBackend
        )
    elif name != "postgresql":
        raise ValueError(f"no writer {name!r}")
