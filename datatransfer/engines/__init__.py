"""The two write engines of loaddomain, with the same outcome for every row.

`RowEngine` (reference.py) is the reference: `update_or_create` semantics, one row at a
time, each in its own savepoint. `BatchEngine` (batch.py, the default) plans a batch of
rows with a few queries (a typed `BatchPlan`), then writes it in bulk. They share nothing
but the registry's table specs; tests/datatransfer/test_engines.py checks that they leave
the same database and the same report, row by row.

Both follow each table's write policy (registry.py): upsert; append-only, where a row is
judged by its content and, when the target lacks that content, appended under a new id
from the target's sequence (in a dry run on PostgreSQL, the ids the sequence would give,
read without moving it); immutable, where an existing row that differs is a conflict.
A row that is not written (skipped or failed) makes the rows that link to it skip or fail
only when the target lacks it: when its id is there, their links hold.
"""

from datatransfer.engines.batch import DEFAULT_BATCH_SIZE, BatchEngine
from datatransfer.engines.reference import RowEngine
from datatransfer.exceptions import first_line

ENGINES = {"rows": RowEngine, "batch": BatchEngine}

__all__ = ["DEFAULT_BATCH_SIZE", "ENGINES", "BatchEngine", "RowEngine", "first_line"]
