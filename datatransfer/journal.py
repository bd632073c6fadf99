"""The undo journal of a real import: what it takes to put the target back as it was.

For each row the import wrote, the journal holds its table, its id, what the import did
(`created`, `updated`, `appended`), its previous image when it was there before (the row in
the file's spelling, secrets included, with its many-to-many links as related ids:
rowimages.py) and the digest of the row as the import left it. `revertimport` (revert.py)
checks those digests before it writes anything, so it never undoes over someone's later
change.

The `Journal` follows the import as an ImportObserver: the job hands it the images of the
rows the writer is about to update, read just before (the first reading of an id wins, so a
row repeated in the file is judged by what the target held before the import), and of the
rows the prune is about to delete; the rows created need none, and the rows left unchanged
are never read. It keeps them and each row's outcome in a private
scratch database on disk (memory stays bounded, whatever the size of the import), and is
told the new ids of appended rows by the writer. Just before the commit it reads the rows
written once more and writes the journal file: gzip'd JSON lines, a header first, under
DATATRANSFER_JOURNAL_DIR, mode 0600, fsync'd with its folder. If that fails the import
rolls back (DataTransferError): an import that cannot be undone is not committed.

The journal holds secrets as an export does: private, and deleted with the export files
by `pruneexports` (retention.py).
"""

import contextlib
import datetime as dt
import gzip
import os
import secrets
import sqlite3
from pathlib import Path

import orjson
from django.conf import settings

from datatransfer import phases
from datatransfer.databases import describe
from datatransfer.exceptions import DataTransferError
from datatransfer.formats.json.codec import dumps_json, loads_json
from datatransfer.formats.rows import value_decoder
from datatransfer.leftovers import work_folder
from datatransfer.observers import ImportObserver
from datatransfer.registry import tables_by_key
from datatransfer.reports import Outcome
from datatransfer.rowimages import WRITTEN_CHUNK, written_digests

# 2: each row's digest as written is rowimages.written_digests'; 1: of its image (read_images)
JOURNAL_VERSION = 2
SUFFIX = ".journal.gz"
REVERTED_SUFFIX = ".reverted"
FLUSH = 5000
WRITTEN = {Outcome.CREATED: "created", Outcome.UPDATED: "updated"}


def journal_dir() -> Path:
    return Path(settings.DATATRANSFER_JOURNAL_DIR)


def new_run_id(now=None) -> str:
    """A short, typeable run id: the UTC time and 4 random hex digits (20261207-181500-3f9a)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def journal_path(run: str) -> Path:
    return journal_dir() / f"{run}{SUFFIX}"


def _pk_text(value) -> str:
    return orjson.dumps(value).decode()


class Journal(ImportObserver):
    """An ImportObserver (importer.py) that writes the undo journal of one real import
    (see the module's docstring). `run` is its id; `path` the file, once written."""

    def __init__(self, *, run: str | None = None):
        self.run = run or new_run_id()
        self.path = None
        self.using = None
        self.file = None
        self._tables = tables_by_key()
        self._decoders = {}
        self._pending = []
        folder = work_folder()
        self._scratch_path = folder / f"journal-{self.run}.sqlite3"
        self._db = sqlite3.connect(self._scratch_path)
        self._db.executescript(
            "CREATE TABLE before (t TEXT, pk TEXT, image BLOB, PRIMARY KEY (t, pk));"
            "CREATE TABLE written (t TEXT, pk TEXT, op TEXT, PRIMARY KEY (t, pk));"
        )

    # -- the observer

    def started(self, job, report) -> None:
        self.using = job.options.using
        self.file = report.file
        report.listeners.append(self._listen)

    def rows_updating(self, table, ids, images) -> None:
        """The writer is about to update `table`'s rows `ids`: their previous images (the
        first reading of an id wins)."""
        self._keep_before(table, ids, images)

    def rows_appended(self, table, ids) -> None:
        """The writer appended rows to `table` under the new ids `ids`."""
        self._pending += [(table.key, _pk_text(pk), "appended") for pk in ids]
        self._flush(FLUSH)

    def rows_deleting(self, table, ids, images) -> None:
        """The prune is about to delete `table`'s rows `ids`: their images are kept, for
        revertimport to insert them again."""
        self._keep_before(table, ids, images)
        self._pending += [(table.key, _pk_text(pk), "deleted") for pk in ids]
        self._flush(FLUSH)

    @phases.phase("journal")
    def before_commit(self, report) -> None:
        self._flush(0)
        try:
            self.path = self._write(report)
        except OSError as error:
            raise DataTransferError(
                f"The undo journal could not be written ({error.strerror or error}"
                f"{': ' + str(error.filename) if error.filename else ''}): the import was "
                "rolled back, nothing was written."
            ) from None
        report.run = self.run

    # -- what it keeps meanwhile

    def _keep_before(self, table, ids, images) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO before VALUES (?, ?, ?)",
            [
                (table.key, _pk_text(pk), dumps_json(images[pk]) if pk in images else None)
                for pk in ids
            ],
        )

    def _listen(self, table_key, outcome, row_id, was=None) -> None:
        if was is not None or outcome not in WRITTEN:
            return  # a changed outcome (a link set last that failed): the row stays written
        pk = _pk_text(self._decoded(table_key, row_id))
        self._pending.append((table_key, pk, WRITTEN[outcome]))
        self._flush(FLUSH)

    _listen.outcomes = frozenset(WRITTEN)  # the rows it keeps (ImportReport.heard)

    def _decoded(self, table_key, row_id):
        decode = self._decoders.get(table_key)
        if decode is None:
            decode = self._decoders[table_key] = value_decoder(self._tables[table_key].pk.field)
        try:
            return decode(row_id)
        except (ValueError, TypeError, OverflowError):
            return row_id

    def _flush(self, above: int) -> None:
        if len(self._pending) > above:
            self._db.executemany("INSERT OR IGNORE INTO written VALUES (?, ?, ?)", self._pending)
            self._pending = []

    # -- the journal file

    def _entries(self, table):
        """(op, pk, previous image or None) of the rows of `table` the import wrote."""
        query = self._db.execute(
            "SELECT w.pk, w.op, b.pk IS NOT NULL, b.image FROM written AS w LEFT JOIN before "
            "AS b ON b.t = w.t AND b.pk = w.pk WHERE w.t = ? ORDER BY w.rowid",
            [table.key],
        )
        for pk, op, seen, image in query:
            if op == "updated" and not (seen and image is not None):
                raise DataTransferError(
                    f"The undo journal has no previous image of {table.key} {pk}: the import "
                    "was rolled back, nothing was written."
                )
            if op == "created":
                image = None
            yield op, orjson.loads(pk), (loads_json(image) if image is not None else None)

    def _lines(self, table):
        """The journal's lines for `table`, each with the digest of the row as written."""
        chunk = []
        for entry in self._entries(table):
            chunk.append(entry)
            if len(chunk) == WRITTEN_CHUNK:
                yield from self._with_digests(table, chunk)
                chunk = []
        yield from self._with_digests(table, chunk)

    def _with_digests(self, table, chunk):
        after = written_digests(table, [pk for _, pk, _ in chunk], self.using)
        for op, pk, before in chunk:
            entry = {"t": table.key, "op": op, "id": pk, "after": after.get(pk)}
            if before is not None:
                entry["before"] = before
            yield entry

    def _counts(self) -> dict:
        counts = {}
        for key, op, number in self._db.execute(
            "SELECT t, op, count(*) FROM written GROUP BY 1, 2"
        ):
            table = counts.setdefault(key, {"created": 0, "updated": 0, "appended": 0})
            table[op] = table.get(op, 0) + number
        return counts

    def _write(self, report) -> Path:
        header = {
            "journal": JOURNAL_VERSION,
            "run": self.run,
            "database": self.using,
            "target": describe(self.using),  # where it pointed: a revert goes nowhere else
            "file": report.file,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tables": self._counts(),
        }
        folder = journal_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = journal_path(self.run)
        part = folder / f".{self.run}{SUFFIX}.part"
        try:
            with private_file(part) as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
                    out.write(dumps_json(header) + b"\n")
                    for key in self._tables:
                        if key in header["tables"]:
                            for entry in self._lines(self._tables[key]):
                                out.write(dumps_json(entry) + b"\n")
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(part, final)
            sync_folder(folder)
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        return final

    # -- the end

    def discard(self) -> None:
        """Remove the journal file of an import that did not commit after all."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(OSError):
            self._scratch_path.unlink()


def private_file(path: Path):
    """A new file, mode 0600 from its creation (never more), opened for writing bytes."""
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def import_journal(dry_run: bool):
    """The observers of an import that keep its undo journal: none for a dry run. A journal
    written for an import that did not commit after all (an error at the commit) is removed."""
    if dry_run:
        yield []
        return
    journal = Journal()
    try:
        yield [journal]
    except BaseException:
        journal.discard()
        raise
    finally:
        journal.close()
