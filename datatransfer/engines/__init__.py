"""The write engines of loaddomain, with the same outcome for every row.

`RowEngine` (reference.py) is the reference: `update_or_create` semantics, one row at a
time, each in its own savepoint. `BatchEngine` (batch.py, the default) plans a batch of
rows with a few queries (a typed `BatchPlan`), then writes it in bulk. They share nothing
but the registry's table specs; tests/datatransfer/test_engines.py checks that they leave
the same database and the same report, row by row.

Both follow each table's write policy, which they ask (`table.write_policy`, one class per
module of datatransfer/policies/: how a row is matched, what becomes of a row the target
holds) and never name: upsert; append-only, where a row is judged by its content and, when
the target lacks that content, appended under a new id from the target's sequence (in a
dry run on PostgreSQL, the ids the sequence would give, read without moving it), n rows of
one content in the file being n rows in the target (a multiset: contents.py); immutable,
where an existing row that differs is a conflict.
`PostgresEngine` (postgres.py, the default on PostgreSQL) has the server type, classify and
write a table's rows with a few set-based statements, and leaves to the batch engine what
only a walk in file order decides. `AUTO` picks it on PostgreSQL, the batch engine
elsewhere.

A row that is not written (skipped or failed) makes the rows that link to it skip or fail
only when the target lacks it: when its id is there, their links hold.
"""

from datatransfer.engines.batch import DEFAULT_BATCH_SIZE, BatchEngine
from datatransfer.engines.postgres import PostgresEngine
from datatransfer.engines.reference import RowEngine
from datatransfer.exceptions import first_line

ENGINES = {"rows": RowEngine, "batch": BatchEngine, "postgres": PostgresEngine}
AUTO = "auto"  # postgres on PostgreSQL, batch elsewhere
VENDOR_ENGINES = {"postgres": "postgresql"}  # the engines that need one database


def engine_for(name: str, vendor: str) -> str:
    """The engine `name` means on a database of `vendor` (AUTO: the fastest there)."""
    if name == AUTO:
        return "postgres" if vendor == "postgresql" else "batch"
    return name


__all__ = [
    "AUTO",
    "DEFAULT_BATCH_SIZE",
    "ENGINES",
    "VENDOR_ENGINES",
    "BatchEngine",
    "PostgresEngine",
    "RowEngine",
    "engine_for",
    "first_line",
]
