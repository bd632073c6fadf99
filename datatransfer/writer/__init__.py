"""The one writer of loaddomain: `Writer` (writer.py) writes every table's rows, with the
same outcome for every row whatever the database.

It plans a batch of rows with a few queries (a typed `BatchPlan`, plan.py), then writes it
in bulk. What is faster on one database lives behind a backend, chosen from the
connection's vendor in one place (backends.py): on PostgreSQL (postgres.py) the server
types, classifies and writes a table's rows with a few set-based statements and COPY, and
leaves to the Writer's walk only what the order of the file decides; elsewhere the portable
backend (portable.py) asks the database through the ORM. Callers never choose.

Every table follows its write policy, which the Writer asks (`table.write_policy`, one
class per module of datatransfer/policies/: how a row is matched, what becomes of a row the
target holds) and never names: upsert; append-only, where a row is judged by its content
and, when the target lacks that content, appended under a new id from the target's
sequence (in a dry run on PostgreSQL, the ids the sequence would give, read without moving
it), n rows of one content in the file being n rows in the target (a multiset:
contents.py); immutable, where an existing row that differs is a conflict; insert-only.

A row that is not written (skipped or failed) makes the rows that link to it skip or fail
only when the target lacks it: when its id is there, their links hold. Each of those rows
names the same root (reports.Reason.cause): the first row refused in the chain. A row
whose link written last (a cycle's) never finds its target is written without it: it
keeps its outcome and is reported unlinked (ImportReport.record_unlinked), never failed.

tests/oracle/reference.py writes the same rows one at a time, as `update_or_create` would;
tests/integration/datatransfer/test_engines.py checks that the Writer leaves the same
database and the same report, row by row, on each backend.
"""

from datatransfer.writer.writer import DEFAULT_BATCH_SIZE, Writer

__all__ = ["DEFAULT_BATCH_SIZE", "Writer"]
