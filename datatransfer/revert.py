"""Reverting an import: the target put back exactly as it was before it, from the import's
undo journal (journal.py), in one transaction.

First the check: every row the import wrote must still be as the import left it (its
digest), and no row outside the journal may link to a row the import added; otherwise
the revert is refused, naming the rows (RevertRefused), and nothing is written. Then, in
this order, so that no foreign key ever points to a missing row, whatever the database's
ON DELETE rules (Prisma's CASCADE and SET NULL included):

1. the updated rows get back their previous links: foreign keys and many-to-many rows;
2. the rows the import added lose their links written last (the domain's cycles:
   Organization.ownerId -> User -> Organization) and their many-to-many rows;
3. the rows the import created or appended are deleted, children before parents;
4. the updated rows get back every previous value (now that the unique values the added
   rows held are free);
5. the rows a prune deleted are inserted again, parents first, their links written last
   set once all are back.

A dry run does the same and rolls back. A reverted journal is marked (`<run>.reverted`
beside it, written before the commit): a second revert is refused. What the import moved
besides rows (sequences, an archive's uploaded files) stays as it is.
"""

import contextlib
import datetime as dt
import gzip
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

import orjson
from django.db import IntegrityError, transaction

from datatransfer.databases import describe, open_connection
from datatransfer.exceptions import (
    DataTransferError,
    RevertRefused,
    escaped,
    first_line,
    quoted,
)
from datatransfer.formats.json.codec import loads_json
from datatransfer.formats.rows import decode_row
from datatransfer.journal import (
    REVERTED_SUFFIX,
    journal_dir,
    journal_path,
    private_file,
    sync_folder,
)
from datatransfer.locking import import_lock
from datatransfer.registry import domain_tables, table_key
from datatransfer.rowimages import digest, read_images, written_digests
from datatransfer.writer.plan import base_manager

RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{4}")
CHUNK = 500
NAMED = 20  # rows named in a refusal, the others counted


@dataclass(frozen=True)
class RevertOptions:
    """`run`: the import's run id; `using`: the database (default: the one the import
    wrote into, as its journal says); `dry_run`: check and count, write nothing."""

    run: str
    using: str | None = None
    dry_run: bool = False


@dataclass
class RevertReport:
    """What a revert did (or would do), per table: rows deleted (the import created or
    appended them) and rows restored (the import updated them)."""

    run: str
    database: str
    dry_run: bool = False
    file: str = ""
    tables: dict = field(default_factory=dict)  # {key: {"deleted": n, "restored": n}}
    duration: float = 0.0

    def as_dict(self) -> dict:
        totals = {
            what: sum(counts[what] for counts in self.tables.values())
            for what in ("deleted", "restored")
        }
        return {
            "run": self.run,
            "database": self.database,
            "dryRun": self.dry_run,
            "file": self.file,
            "tables": self.tables,
            "totals": totals,
            "durationSeconds": round(self.duration, 3),
        }


def read_header(run: str) -> dict:
    """The journal's header of `run` (its database, file, counts per table). Raises
    DataTransferError for an id that names no journal, or an unreadable one."""
    if not RUN_ID.fullmatch(run or ""):
        raise DataTransferError(
            f"{quoted(run)} is not a run id (one reads like 20261207-181500-3f9a); nothing "
            "was written."
        )
    path = journal_path(run)
    try:
        with gzip.open(path, "rb") as lines:
            return orjson.loads(lines.readline())
    except FileNotFoundError:
        raise DataTransferError(
            f"No undo journal for run {run} in {journal_dir()} (never run, a dry run, or "
            "deleted by the retention); nothing was written."
        ) from None
    except (OSError, EOFError, orjson.JSONDecodeError) as error:
        raise DataTransferError(
            f"The undo journal of run {run} cannot be read ({escaped(first_line(error))}); "
            "nothing was written."
        ) from None


def reverted_marker(run: str):
    return journal_dir() / f"{run}{REVERTED_SUFFIX}"


def was_reverted(run: str) -> bool:
    return reverted_marker(run).exists()


class RevertJob:
    """The revert of one import (see the module's docstring). `run()` returns a
    RevertReport; raises DataTransferError (nothing written) for an unknown run, one
    already reverted, an unreachable database; RevertRefused when rows changed since."""

    def __init__(self, options: RevertOptions):
        self.options = options
        self.header = read_header(options.run)
        self.using = options.using or self.header["database"]
        if was_reverted(options.run):  # refused before anything is asked or opened
            raise DataTransferError(f"Run {options.run} was reverted already; nothing was written.")
        self.check_target()
        self.tables = {t.key: t for t in domain_tables()}
        self.order = list(self.tables)

    def check_target(self) -> None:
        """Refuse a database that does not point where the import's did (compared by
        engine, host, port and name, not by alias): the same rows may well be there (the
        file came from it), and would be deleted."""
        imported_into = self.header.get("target")
        try:
            here = describe(self.using)
        except KeyError:
            here = "not configured"
        if imported_into != here:
            where = imported_into or "an unrecorded database"
            raise DataTransferError(
                f"Run {self.options.run} was an import into {where}, not into database "
                f"'{self.using}' ({here}); nothing was written. Use the settings (env file, "
                "database) that the import used."
            )

    def run(self) -> RevertReport:
        started = time.monotonic()
        run = self.options.run
        connection = open_connection(self.using)
        report = RevertReport(
            run=run, database=self.using, dry_run=self.options.dry_run, file=self.header["file"]
        )
        marked = False
        try:
            with import_lock(connection, wait=False), transaction.atomic(using=self.using):
                self.check()
                report.tables = self.undo()
                self.check_constraints(connection)
                if self.options.dry_run:
                    transaction.set_rollback(True, using=self.using)
                else:
                    marked = self.mark()
        except BaseException:
            if marked:
                with contextlib.suppress(OSError):
                    reverted_marker(run).unlink()
            raise
        report.duration = time.monotonic() - started
        return report

    # -- reading the journal

    def entries(self):
        """The journal's entries, in the order written (the tables' order), read anew."""
        with gzip.open(journal_path(self.options.run), "rb") as lines:
            lines.readline()
            for line in lines:
                yield loads_json(line)

    def chunks(self, ops=None):
        """(table, [entries]) chunks of at most CHUNK entries of one table (of `ops`)."""
        key, chunk = None, []
        for entry in self.entries():
            if ops is not None and entry["op"] not in ops:
                continue
            if chunk and (entry["t"] != key or len(chunk) == CHUNK):
                yield self.tables[key], chunk
                chunk = []
            key = entry["t"]
            chunk.append(entry)
        if chunk:
            yield self.tables[key], chunk

    # -- the check

    def check(self) -> None:
        """Refuse (RevertRefused) when a row the import wrote changed or went since, or a
        row outside the journal links to a row the import added."""
        changed, written, added = [], defaultdict(set), defaultdict(set)
        for table, chunk in self.chunks():
            now = self.digests_now(table, [e["id"] for e in chunk])
            for entry in chunk:
                pk = entry["id"]
                written[table.key].add(pk)
                if entry["op"] not in ("updated", "deleted"):
                    added[table.key].add(pk)
                there = pk in now
                if entry["op"] == "deleted" and there:
                    changed.append((table.key, pk, "created again"))
                if entry["after"] is not None and now.get(pk) != entry["after"]:
                    changed.append((table.key, pk, "changed" if there else "deleted"))
        if changed:
            raise self.refusal(changed, "changed or deleted since the import")
        if linking := self.links_to_added(written, added):
            raise self.refusal(linking, "link to rows the import added")

    def digests_now(self, table, ids) -> dict:
        """{pk: digest} of the rows among `ids` the target holds now, as the journal's
        version digests them (journal.JOURNAL_VERSION)."""
        if self.header.get("journal", 1) >= 2:
            return written_digests(table, ids, self.using)
        return {pk: digest(image) for pk, image in read_images(table, ids, self.using).items()}

    def links_to_added(self, written, added) -> list:
        """(table, id, what) of the rows outside the journal that link to added rows."""
        found = []
        for table in self.tables.values():
            for spec in table.fields:
                target = spec.field.related_model if spec.field.is_relation else None
                ids = added.get(table_key(target)) if target else None
                if ids:
                    found += self._linking(table, spec.attname, ids, written[table.key])
            for spec in table.many_to_many:
                ids = added.get(table_key(spec.related_model))
                if ids:
                    for owner, _ in spec.links(self.using, targets=list(ids)):
                        if owner not in written[table.key]:
                            found.append((table.key, owner, spec.key))
        return found

    def _linking(self, table, attname, ids, written) -> list:
        found = []
        ids = list(ids)
        for start in range(0, len(ids), CHUNK):
            rows = base_manager(table.model, self.using).filter(
                **{f"{attname}__in": ids[start : start + CHUNK]}
            )
            found += [
                (table.key, pk, attname)
                for pk in rows.values_list("pk", flat=True)
                if pk not in written
            ]
        return found

    def refusal(self, rows, why: str) -> RevertRefused:
        named = defaultdict(list)
        for key, pk, _ in rows[:NAMED]:
            named[key].append(quoted(pk))
        listed = "; ".join(f"{key} {', '.join(ids)}" for key, ids in named.items())
        more = f" and {len(rows) - NAMED} more" if len(rows) > NAMED else ""
        return RevertRefused(
            f"Run {self.options.run} cannot be reverted: {len(rows)} row(s) {why}: "
            f"{listed}{more}; nothing was written."
        )

    # -- the undo

    def undo(self) -> dict:
        """The four steps of the module's docstring; return the counts per table."""
        counts = {}
        for table, chunk in self.chunks({"updated"}):
            self.restore(table, chunk, links_only=True)
            counts.setdefault(table.key, {"deleted": 0, "restored": 0})["restored"] += len(chunk)
        added = defaultdict(list)
        for table, chunk in self.chunks({"created", "appended"}):
            added[table.key] += [entry["id"] for entry in chunk]
        for key, ids in added.items():
            self.unlink(self.tables[key], ids)
        for key in reversed(self.order):
            if ids := added.get(key):
                self.delete(self.tables[key], ids)
                counts.setdefault(key, {"deleted": 0, "restored": 0})["deleted"] += len(ids)
        for table, chunk in self.chunks({"updated"}):
            self.restore(table, chunk, links_only=False)
        for key, number in self.reinsert().items():
            counts.setdefault(key, {"deleted": 0, "restored": 0})["restored"] += number
        return {key: counts[key] for key in self.order if key in counts}

    def reinsert(self) -> dict:
        """Insert the rows a prune deleted again, parents first, then their links written
        last; return {table key: rows}."""
        rows = defaultdict(list)
        for table, chunk in self.chunks({"deleted"}):
            rows[table.key] += [decode_row(table, entry["before"]) for entry in chunk]
        for key in self.order:
            table = self.tables[key]
            later = {spec.attname for spec in table.deferred}
            names = [s.attname for s in table.fields if not s.field.primary_key]
            instances = [
                table.model(pk=r.pk, **{n: r.values.get(n) for n in names if n not in later})
                for r in rows.get(key, ())
            ]
            base_manager(table.model, self.using).bulk_create(instances, batch_size=CHUNK)
        for key, decoded in rows.items():
            table = self.tables[key]
            later = [spec.attname for spec in table.deferred]
            if later and decoded:
                instances = [
                    table.model(pk=r.pk, **{n: r.values.get(n) for n in later}) for r in decoded
                ]
                base_manager(table.model, self.using).bulk_update(instances, later, CHUNK)
        return {key: len(decoded) for key, decoded in rows.items()}

    def restore(self, table, chunk, *, links_only: bool) -> None:
        """Give the updated rows of `chunk` back their previous links (`links_only`), or
        every previous value."""
        rows = [decode_row(table, entry["before"]) for entry in chunk]
        names = [
            spec.attname
            for spec in table.fields
            if not spec.field.primary_key and (spec.field.is_relation or not links_only)
        ]
        if names:
            instances = [
                table.model(pk=row.pk, **{n: row.values.get(n) for n in names}) for row in rows
            ]
            base_manager(table.model, self.using).bulk_update(instances, names, batch_size=CHUNK)
        for spec in table.many_to_many:
            owners = [row.pk for row in rows]
            wanted = {row.pk: sorted(row.many_to_many.get(spec.key, ())) for row in rows}
            spec.set_links(self.using, wanted, spec.linked(owners, self.using), batch_size=CHUNK)

    def unlink(self, table, ids) -> None:
        """Take from the added rows `ids` their links written last and many-to-many rows."""
        later = [spec.attname for spec in table.deferred]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            if later:
                base_manager(table.model, self.using).filter(pk__in=chunk).update(
                    **dict.fromkeys(later)
                )
            for spec in table.many_to_many:
                spec.through._base_manager.using(self.using).filter(
                    **{f"{spec.owner_column}__in": chunk}
                )._raw_delete(self.using)

    def delete(self, table, ids) -> None:
        for start in range(0, len(ids), CHUNK):
            base_manager(table.model, self.using).filter(
                pk__in=ids[start : start + CHUNK]
            )._raw_delete(self.using)

    def check_constraints(self, connection) -> None:
        try:
            connection.check_constraints(
                table_names=[t.model._meta.db_table for t in self.tables.values()]
            )
        except IntegrityError as error:
            raise DataTransferError(
                f"The revert would break a foreign key ({first_line(error)}); it was rolled "
                "back, nothing was written."
            ) from None

    def mark(self) -> bool:
        """Mark the journal reverted, durably, before the commit."""
        marker = reverted_marker(self.options.run)
        try:
            with private_file(marker) as out:
                out.write(
                    orjson.dumps(
                        {"database": self.using, "at": dt.datetime.now(dt.UTC).isoformat()}
                    )
                )
                out.flush()
                os.fsync(out.fileno())
            sync_folder(marker.parent)
        except FileExistsError:
            raise DataTransferError(
                f"Run {self.options.run} was reverted already; nothing was written."
            ) from None
        except OSError as error:
            raise DataTransferError(
                f"The revert of run {self.options.run} could not be recorded "
                f"({error.strerror or error}): it was rolled back, nothing was written."
            ) from None
        return True


def revert_import(options: RevertOptions) -> RevertReport:
    """Revert the import of `options.run`: see RevertJob."""
    return RevertJob(options).run()
