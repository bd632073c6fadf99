"""The import: upsert a file's rows by primary key, table by table, in one transaction.

Each row ends created, updated, unchanged (no write at all), skipped (a unique key held
by another row, or a dependency on a skipped row) or failed (a value or reference that
does not fit); see writer/. A dry run is the same import, rolled back at the end.

`ImportOptions` holds every option, checked once; an `ImportJob` built from it runs the
phases in order:

- open: the file (an ExportSource: every read sees the same bytes); for an archive, its
  members are checked and its export taken out first (media.read_archive);
- check and match, with `match` natural only: one read of the whole file that verifies it
  and collects its natural keys (filecheck.scan_file);
- load: each table given to the writer in dependency order; matched by id, this is the
  file's one read, which checks it too (filecheck.CheckWhileLoading): its verdict comes
  once every row is read, before the links, the prune and the commit, and a file it
  refuses rolls everything back (nothing written, the same error as a check first);
- link: the links written last (cycles, self-references);
- constraints: sequences moved past the new ids, foreign keys checked, then commit (or
  roll back, for a dry run);
- media: an archive's files written under MEDIA_ROOT, once the database committed;
- report: the ImportReport (with its MediaReport for an archive).
"""

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, transaction

from datatransfer import phases
from datatransfer.databases import open_connection
from datatransfer.exceptions import (
    Code,
    DataTransferError,
    Interrupted,
    LockTimeoutError,
    Terminated,
    VerificationError,
    escaped,
    first_line,
    quoted,
)
from datatransfer.filecheck import (
    CheckWhileLoading,
    FileHead,
    TableScheduler,
    checked_rows,
    read_head,
    scan_file,
    unique_ids,
    unknown_error,
    unverified_note,
)
from datatransfer.formats import open_reader
from datatransfer.formats.document import FORMAT_VERSION
from datatransfer.formats.source import ExportSource
from datatransfer.leftovers import work_folder
from datatransfer.locking import (
    import_lock,
    is_lock_timeout,
    limit_lock_waits,
    lock_timeout_setting,
)
from datatransfer.matching import NaturalKeyMatcher
from datatransfer.media import is_archive, read_archive, restore_media
from datatransfer.prune import HeldIds, refuse_partial_prune
from datatransfer.prune import prune as prune_rows
from datatransfer.registry import domain_tables, excluded_keys
from datatransfer.reports import ImportReport, Note
from datatransfer.routers import domain_database
from datatransfer.rowimages import read_ahead, read_images
from datatransfer.schemarecord import check_target, record_of
from datatransfer.signing import check_signature
from datatransfer.signing import signing_key as settings_signing_key
from datatransfer.writer import DEFAULT_BATCH_SIZE, Writer

MATCHES = ("id", "natural")


def _bad_option(message: str) -> DataTransferError:
    return DataTransferError(message, code=Code.BAD_OPTION)


@dataclass(frozen=True)
class ImportOptions:
    """Every option of an import, checked once when built (DataTransferError, code
    BAD_OPTION, for a bad value).

    `using` defaults to the domain database, `lock_timeout` (seconds, 0: no limit) to
    settings.DATATRANSFER_LOCK_TIMEOUT, `media_root` to settings.MEDIA_ROOT, `signing_key`
    to settings.DATATRANSFER_SIGNING_KEY ('' for none): set here once, every phase reads
    them from here. `match` is
    "id" (rows are the target's rows with the same id) or "natural" (a row whose id is
    not in the target but whose natural key is updates that row, and links to it follow:
    matching.py). Without `verify`, the file is loaded without its check against its
    manifest (refused when a signing key is set: a signed file is always checked, so that
    its signature vouches for the rows loaded); `strict` rolls everything back at the
    first failed row; `wait` queues behind another import into the same PostgreSQL
    database instead of failing; `overwrite_media` replaces an archive's file that differs.
    """

    using: str | None = None
    dry_run: bool = False
    strict: bool = False
    exclude: frozenset = frozenset()
    ignore_unknown: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    wait: bool = False
    verify: bool = True
    match: str = "id"
    lock_timeout: float | None = None
    overwrite_media: bool = False
    prune: bool = False
    media_root: str | None = None
    signing_key: str | None = field(default=None, repr=False)  # a secret: never shown

    def __post_init__(self):
        def resolve(name, value):
            object.__setattr__(self, name, value)

        resolve("using", self.using or domain_database())
        try:
            resolve("exclude", frozenset(excluded_keys(self.exclude)))
        except DataTransferError as error:
            raise _bad_option(str(error)) from None
        resolve("batch_size", self.batch_size or DEFAULT_BATCH_SIZE)
        resolve("media_root", str(self.media_root or settings.MEDIA_ROOT))
        if self.signing_key is None:
            resolve("signing_key", settings_signing_key())
        if self.match not in MATCHES:
            raise _bad_option(f"Unknown match {quoted(self.match)} (use id or natural).")
        if self.batch_size < 1:
            raise _bad_option("The batch size must be at least 1.")
        if not self.verify and self.signing_key:
            raise DataTransferError(
                "DATATRANSFER_SIGNING_KEY is set: the signature and the rows of every file are "
                "always checked; nothing was written.",
                code=Code.VERIFY_REQUIRED,
            )
        if self.lock_timeout is None:
            resolve("lock_timeout", lock_timeout_setting())
            if not 0 <= self.lock_timeout < float("inf"):
                raise _bad_option(
                    f"DATATRANSFER_LOCK_TIMEOUT is {self.lock_timeout}: it must be 0 or more "
                    "seconds."
                )


def _reset_sequences(connection, model_list):
    """After explicit integer keys, move sequences past them (as loaddata does). Never in
    a dry run: a sequence moved by setval stays moved through a rollback."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


@dataclass
class _Opened:
    """The open phase's result: the file every read goes through, and for an archive,
    its path and the media manifest."""

    source: ExportSource
    archive: str | None = None
    media_manifest: dict | None = None


class ImportJob:
    """One import of one file (or archive) into one database, by phases (see the module's
    docstring). `on_table(key, rows, phase=..., number=..., tables=...)` is called before
    each table of the check, match and load phases and returns a callback taking a
    number of rows done (progress), or None.

    `run` raises DataTransferError (nothing written) for a bad file (VerificationError for
    what `verify` false lifts, SignatureError, FileChangedError), an unknown table or field,
    an unreachable database, another import running into the same PostgreSQL database
    (unless `wait`), a lock held too long by another session, or a failed row when `strict`;
    Interrupted for a Ctrl-C while an archive's files are written (the database committed).

    `observers` (ImportObserver) follow the load without changing it: the undo journal,
    the plan.
    """

    def __init__(self, options: ImportOptions, *, on_table=None, observers=()):
        self.options = options
        self.on_table = on_table
        self.observers = tuple(observers)
        self.tables = domain_tables()
        self.by_key = {t.key: t for t in self.tables}
        self.doing = "starting"  # what the import is at, for a lock timeout's message
        self.connection = None
        self.source = None  # the ExportSource the import reads (its sha256: the bytes read)
        self.checking = None  # the check of a file read once (filecheck.CheckWhileLoading)

    @phases.timed_job
    def run(self, path) -> ImportReport:
        started = time.monotonic()
        with self.open(path) as opened:
            report = self.transfer(opened.source)
            if opened.archive:
                report.file, report.file_size = opened.archive, os.path.getsize(opened.archive)
                report.media = self.media(opened)
        report.duration = time.monotonic() - started
        return report

    # ------------------------------------------------------------------------ open

    @contextlib.contextmanager
    def open(self, path):
        """Open the file once; for an archive, check every member and take its export out
        into a private folder first (FileFormatError, nothing written, when it is broken)."""
        path = str(path)
        if not is_archive(path):
            with ExportSource(path) as source:
                yield _Opened(source)
            return
        with tempfile.TemporaryDirectory(prefix="archive-", dir=work_folder()) as work:
            contents = read_archive(path, work)
            name = f"{path}:{Path(contents.export_path).name}"
            with ExportSource(contents.export_path, name=name) as source:
                yield _Opened(source, archive=path, media_manifest=contents.manifest)

    # ------------------------------------------------------------------------ check, match, load

    @phases.phase("check")
    def check(self, source, head, matcher=None) -> list:
        """The check and match phase of a natural-key match: one read of the whole file
        (filecheck.scan_file), which fills the `matcher`; return its notes."""
        options = self.options
        return scan_file(
            source,
            head,
            verify=options.verify,
            ignore_unknown=options.ignore_unknown,
            signing_key=options.signing_key,
            matcher=matcher,
            on_table=self.on_table,
        )

    @phases.phase("head")
    def read_head(self, source) -> tuple[FileHead, list]:
        """Read the file's head once: its metadata, handed forward as a FileHead, and the
        notes of the comparison of the schema it records with the target's."""
        head = read_head(source, self.tables, self.options.exclude)
        return head, self.compare_schema(head)

    def compare_schema(self, head) -> list:
        """When the file records its source's schema, compare it with the target's before
        anything else (schemarecord.py): refused (SchemaMismatchError) when the target is
        behind; else the notes. A file without the record is not compared."""
        try:
            record = record_of(head.path, head.metadata)
        except VerificationError:
            if self.options.verify:
                raise
            return []
        if record is None:
            return []
        notes = []

        def compare(connection, described_as):
            notes.extend(
                check_target(
                    record,
                    connection,
                    self.tables,
                    described_as=described_as,
                    ignore_unknown=self.options.ignore_unknown,
                )
            )

        open_connection(self.options.using, before_check=compare)
        return notes

    def transfer(self, source) -> ImportReport:
        """Read the head, check (and match), load, link and check constraints, in one
        transaction; every phase takes what the one before it handed over."""
        options, using = self.options, self.options.using
        self.source = source
        head, schema_notes = self.read_head(source)
        if options.prune:
            refuse_partial_prune(head)
            self.held = HeldIds()
            self.observers = (*self.observers, self.held)
        matcher = None
        if options.match == "natural":
            matcher = NaturalKeyMatcher(using=using, batch_size=options.batch_size)
        check_notes = None
        self.checking = None
        if options.verify and matcher is None:  # checked by the load's own read (filecheck.py)
            self.checking = CheckWhileLoading(
                head, ignore_unknown=options.ignore_unknown, signing_key=options.signing_key
            )
            check_notes = self.checking.notes  # the signature: before the database is opened
        connection = self.connection = open_connection(using)
        report = ImportReport(
            file=source.path,
            database=using,
            dry_run=options.dry_run,
            file_size=source.size,
            match=options.match,
        )
        try:
            with import_lock(connection, wait=options.wait), transaction.atomic(using=using):
                limit_lock_waits(connection, options.lock_timeout)
                if matcher is not None:  # one read checks the file and collects its natural keys
                    self.doing = "matching natural keys"
                    check_notes = self.check(source, head, matcher)
                    report.id_mapping = matcher.mapping
                for observer in self.observers:
                    observer.started(self, report)
                with open_reader(source, any_version=not options.verify) as reader:
                    report.notes = self.notes(reader, check_notes) + schema_notes
                    self.load(reader, report, head, matcher)
                self.doing = "finishing"
                for observer in self.observers:  # may refuse: then everything rolls back
                    observer.before_commit(report)
                if options.dry_run:
                    transaction.set_rollback(True, using=using)
                phases.begin("commit")  # until the transaction ends: its commit (or rollback)
            phases.end()
        except DatabaseError as error:
            if not is_lock_timeout(error):
                raise
            raise LockTimeoutError(
                f"Database '{using}': another session held a lock that {self.doing} needed "
                f"for more than {options.lock_timeout:g} s: the import was rolled back, "
                "nothing was written."
            ) from None
        return report

    def notes(self, reader, check_notes) -> list:
        """The report's first notes: the check's, or what was not checked."""
        notes = list(check_notes or [])
        if not self.options.verify:
            notes = check_signature(reader.path, reader.metadata, self.options.signing_key)
            notes.append(unverified_note())
        if not reader.version_supported:
            notes.append(
                f"The file has format version {escaped(reader.version)}, which this tool "
                f"does not read: it was read as version {FORMAT_VERSION}, unverified."
            )
        return notes

    def load(self, reader, report, head, matcher) -> None:
        """The load, link and constraints phases, inside the transaction."""
        options = self.options
        skipped = head.skipped  # refused first when its list of tables left out is malformed
        references = head.references
        if head.partial is not None:  # the rows it lacks are unchanged, not gone
            report.notes.append(
                f"A partial file (the rows changed since {head.partial.get('since', 'a time')}): "
                "the database's rows it lacks are left as they are."
            )
        unknown = [key for key in head.listed if key not in self.by_key]
        if unknown and not options.ignore_unknown and self.checking is None:
            # checked while loading: the verdict names them, with the unknown fields
            raise unknown_error(reader.path, [f"table {quoted(k)}" for k in unknown])
        appended, updating = self.rows_appended(), self.rows_updating()
        writer = Writer(
            report,
            using=options.using,
            strict=options.strict,
            excluded=skipped,
            batch_size=options.batch_size,
            references=matcher.translated(references) if matcher else references,
            dry_run=options.dry_run,
            # only when asked: a writer given in a test (the oracle) need not know of it
            **({"on_appended": appended} if appended else {}),
            **({"on_updating": updating} if updating else {}),
        )
        loaded = self.load_tables(reader, report, head, writer, matcher)
        if self.checking is not None:  # refused here: everything written rolls back
            verdict = self.verdict(reader)
            at = len(self.checking.notes)
            report.notes[at:at] = verdict
        self.link(writer, report)
        if options.prune:
            self.prune(report, head)
        self.constraints(loaded)

    @phases.phase("verdict")
    def verdict(self, reader) -> list:
        """The file's check, its rows all read: refused (nothing committed), or its notes."""
        self.doing = "checking the file"
        return self.checking.verdict(reader)

    def rows_appended(self):
        """The writer's `on_appended`: tells the observers that ask for them the new ids of
        appended rows; None when none asks."""
        told = self.told("rows_appended")
        if not told:
            return None

        def appended(table, ids):
            for listen in told:
                listen(table, ids)

        return appended

    def rows_updating(self):
        """The writer's `on_updating`: the images of the rows about to be updated, read
        once, for the observers that ask for them; None when none asks."""
        return self.with_images("rows_updating")

    @phases.phase("load")
    def load_tables(self, reader, report, head, writer, matcher) -> list:
        """Give each table of the file to the `writer`, in dependency order (tables left
        out or excluded are not read); return the tables loaded."""
        by_key, ignore_unknown, checking = self.by_key, self.options.ignore_unknown, self.checking
        loaded = []
        to_load = [key for key in head.listed if key in by_key and key not in head.skipped]

        def load_table(table, rows):
            self.doing = f"loading {table.key}"
            loaded.append(table)
            on_rows = self.progress(table, head, len(loaded), max(len(to_load), len(loaded)))
            # checked while loading: an unknown field is dropped here, refused by the verdict
            rows = checked_rows(reader.path, table, rows, ignore_unknown or checking is not None)
            if not self.options.verify:  # otherwise the check refuses repeated ids (verdict)
                rows = unique_ids(reader.path, table, rows)
            rows = matcher.rows(table, rows) if matcher else rows
            rows = self.images_ahead(table, rows)
            for observer in self.observers:
                rows = observer.table_rows(table, rows)
            writer.load_table(table, phases.timed_rows("parse", rows), on_rows)

        scheduler = TableScheduler(load_table, self.tables, expected_keys=to_load)
        not_loaded = []
        for key, rows in reader.tables():
            if checking is not None:
                rows = checking.rows(key, rows)
            offered = False
            if key not in by_key:
                if not ignore_unknown and checking is None:
                    raise unknown_error(reader.path, [f"table {quoted(key)}"])
                if ignore_unknown:  # else the verdict refuses it, with every other one
                    note = f"Table {quoted(key)} is not in the models: skipped."
                    report.notes.append(Note(note, Code.UNKNOWN_SKIPPED))
            elif key in head.left_out:
                not_loaded.append(key)
            elif key not in head.skipped:
                scheduler.offer(by_key[key], rows)
                offered = True
            if checking is not None and not offered:
                checking.drain(rows)  # not loaded, but its rows count in the manifest
        if not_loaded:
            report.notes.append(f"Left out of the export, so not loaded: {', '.join(not_loaded)}.")
        scheduler.finish()
        return loaded

    def told(self, hook: str) -> list:
        """The observers' `hook` methods (observers.py), of those that define it."""
        return [h for o in self.observers if (h := getattr(o, hook)) is not None]

    def with_images(self, hook: str):
        """A callback taking a table and ids that reads their images once and hands them to
        every observer's `hook`; None when none defines it."""
        told, using = self.told(hook), self.options.using
        if not told:
            return None

        @phases.phase("images")
        def hand(table, ids):
            images = read_images(table, ids, using)
            for listen in told:
                listen(table, ids, images)

        return hand

    def images_ahead(self, table, rows):
        """`rows`, the images of each chunk's target rows read before any of them is
        yielded (observers' images_before; none asks: `rows` as is)."""
        hand = self.with_images("images_before")
        return rows if hand is None else read_ahead(table, rows, lambda ids: hand(table, ids))

    def progress(self, table, head, number: int, tables: int):
        """The progress callback of the load of `table`, or None."""
        if not self.on_table:
            return None
        return self.on_table(
            table.key, head.expected_rows(table.key), phase="load", number=number, tables=tables
        )

    @phases.phase("links")
    def link(self, writer, report) -> None:
        """The links written last (cycles, self-references)."""
        self.doing = "setting the links written last"
        writer.set_deferred_links()
        if writer.kept_references:
            report.notes.append(
                f"{writer.kept_references:,} rows in the file only as references (rows of other "
                "organizations, or shared ones, that its rows link to) were already in the "
                "database: left as they are, counted unchanged."
            )

    @phases.phase("prune")
    def prune(self, report, head) -> None:
        """Delete the target's rows in the file's scope that the file lacks (prune.py)."""
        self.doing = "deleting the rows the file lacks"
        report.pruned = True
        deleting = self.with_images("rows_deleting")  # read while the rows are still there
        prune_rows(self.tables, head, self.held.held, report, self.options.using, deleting)

    @phases.phase("constraints")
    def constraints(self, loaded) -> None:
        """Sequences past the new ids (not in a dry run), then the foreign keys checked."""
        connection = self.connection
        if not self.options.dry_run:
            # Append-only tables took their new ids from their sequences already.
            _reset_sequences(
                connection, [t.model for t in loaded if not t.write_policy.matched_by_content]
            )
        self.doing = "checking the foreign keys"
        try:
            connection.check_constraints(table_names=[t.model._meta.db_table for t in loaded])
        except IntegrityError as error:
            raise DataTransferError(
                f"The import would break a foreign key ({first_line(error)}); it was rolled back."
            ) from None

    # ------------------------------------------------------------------------ media

    @phases.phase("media")
    def media(self, opened: _Opened):
        """Write the archive's files under the media root, once the database committed."""
        options = self.options
        try:
            return restore_media(
                opened.archive,
                opened.media_manifest,
                Path(options.media_root),
                overwrite=options.overwrite_media,
                dry_run=options.dry_run,
            )
        except (KeyboardInterrupt, Terminated) as stop:
            if options.dry_run:
                raise
            interrupted = Interrupted(
                f"Interrupted while the uploaded files of {opened.archive} were being written: "
                "the database import is committed, some files may be missing; load the archive "
                "again to finish them."
            )
            if isinstance(stop, Terminated):
                interrupted.exit_code = stop.code
            raise interrupted from None
