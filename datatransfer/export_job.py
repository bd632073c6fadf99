"""One export, as `dumpdomain` and the admin's worker run it: an ExportJob built from one
ExportOptions value runs its phases in order, scope -> write -> archive -> record, with
the history record saved when it starts (running) and when it ends."""

import contextlib
import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from datatransfer.changes import changes_scope, parse_since
from datatransfer.checksums import FileDigest
from datatransfer.exceptions import Code, DataTransferError
from datatransfer.exporter import export_domain, tables_to_export
from datatransfer.files import open_output
from datatransfer.formats import check_output_path, format_for_path, get_format
from datatransfer.history import begin_record, default_output, outcome_of, save_record
from datatransfer.leftovers import temporary_prefix
from datatransfer.locking import checked_lock_timeout
from datatransfer.masks import require_key
from datatransfer.media import ReferencedFiles, check_archive_output, write_archive
from datatransfer.models import ExportRecord
from datatransfer.reports import ExportReport
from datatransfer.routers import domain_database
from datatransfer.signing import signing_key as settings_signing_key
from datatransfer.subset import organization_scope

# Unix's status for a writer whose reader went away: 128 + SIGPIPE (13).
EXIT_OUTPUT_CLOSED = 141


class OutputClosed(DataTransferError):
    """The reader of stdout closed the pipe (`dumpdomain - | head`): the export stopped."""

    code = Code.OUTPUT_CLOSED
    exit_code = EXIT_OUTPUT_CLOSED


@dataclass(frozen=True)
class ExportOptions:
    """Everything an export is asked to do, checked once when built.

    `output`: a file named for its format (formats.output_suffixes: `.json`, `.json.gz`...),
    `-` for stdout (the default format), or
    with `media` a `.tar`/`.tar.gz`/`.tgz` archive; empty: a new name in EXPORTS_DIR.
    `using`: the database to read (default: the domain's). `exclude`: file keys left out.
    `organizations`: slugs, for a subset export. `indent`: None or 0 for one line.
    `user` (an admin user) or `command` (the command line) says who launched it.
    `signing_key` and `media_root` default to the settings'. `lock_timeout`: seconds
    the export waits for another session's lock on PostgreSQL (0: no limit; default:
    DATATRANSFER_LOCK_TIMEOUT). `since`: only the rows changed since this time (an aware
    datetime, or ISO 8601 text: changes.parse_since) and the rows they need, with
    `organizations` too the changed rows of their subset (changes.py).
    `anonymize`: mask the personal fields (docs/masking.md)
    under `anonymize_key` (default: DATATRANSFER_ANONYMIZE_KEY; never kept on the options
    of an export that does not mask).

    Raises DataTransferError for an output name or folder that cannot be written, an
    excluded name that is not a table, a negative indent, a bad lock timeout setting or
    an anonymized export without a key.
    """

    output: str = ""
    using: str = ""
    exclude: frozenset = frozenset()
    exclude_secrets: bool = False
    organizations: tuple = ()
    indent: int | None = 2
    media: bool = False
    media_root: str = ""
    user: object = None
    command: str = ""
    signing_key: str | None = None
    lock_timeout: float | None = None
    since: dt.datetime | None = None
    anonymize: bool = False
    anonymize_key: str | None = None

    def __post_init__(self):
        def normalize(name, value):
            object.__setattr__(self, name, value)

        normalize("using", self.using or domain_database())
        normalize("exclude", frozenset(self.exclude))
        normalize("organizations", tuple(sorted(set(self.organizations))))
        normalize("indent", self.indent or None)
        normalize("media_root", str(self.media_root or settings.MEDIA_ROOT))
        if self.signing_key is None:
            normalize("signing_key", settings_signing_key())
        normalize("lock_timeout", checked_lock_timeout(self.lock_timeout))
        if isinstance(self.since, str):
            normalize("since", parse_since(self.since))
        normalize("anonymize_key", require_key(self.anonymize_key) if self.anonymize else "")
        if not self.output:
            normalize("output", default_output(".tar" if self.media else get_format().suffix))
        if self.indent is not None and self.indent < 0:
            raise DataTransferError(
                f"The indentation must be 0 or more, not {self.indent}.", code=Code.BAD_INDENT
            )
        tables_to_export(self.exclude)
        if self.anonymize and self.media:
            raise DataTransferError(
                "An anonymized export cannot include the uploaded files: they are not masked.",
                code=Code.BAD_OPTION,
            )
        if self.media:
            check_archive_output(self.output)
        else:
            check_output_path(self.output)

    @property
    def to_stdout(self) -> bool:
        return self.output == "-"


@dataclass
class ExportRun:
    """What an export did: the engine's report (naming the file or archive written), the
    history record (None, with `warning` saying why, when it could not be saved), and
    for an archive its manifest (`files` and `missing`). `until`: for the changes since a
    time, the export's start, the time to export the next changes from."""

    report: ExportReport
    record: ExportRecord | None
    warning: str = ""
    manifest: dict | None = None
    until: dt.datetime | None = None


class ExportJob:
    """Runs one export: `run()` returns an ExportRun.

    `record`: the history record to fill (a queued export's), else a new one. `on_table`
    (key, count) is called before each table, as the exporter's (progress). `stdout`: the
    text stream `-` writes to (default sys.stdout).
    """

    def __init__(self, options: ExportOptions, *, record=None, on_table=None, stdout=None):
        self.options = options
        self.record = record if record is not None else ExportRecord()
        self.on_table = on_table
        self.stdout = stdout
        self.warning = ""
        self.report: ExportReport | None = None
        self.manifest: dict | None = None
        self._digest = FileDigest()  # of the file written: the export, then the archive
        self._files: ReferencedFiles | None = None
        self.until: dt.datetime | None = None

    def run(self) -> ExportRun:
        """Raises DataTransferError (recorded failed; OutputClosed recorded interrupted)
        for an unknown organization, an unreachable database or a file that cannot be
        written; a Ctrl-C (KeyboardInterrupt) or a stopped process (SystemExit) is
        recorded interrupted and raised again. No partial file is ever left."""
        started = time.monotonic()
        self.warning = begin_record(self.record, self.options)
        try:
            with contextlib.ExitStack() as stack:
                scope = self.scope()
                self.until = getattr(scope, "until", None)
                export_path = self.options.output
                if self.options.media:
                    # The export waits in a private folder (0700: it holds password hashes)
                    # beside the archive, removed with it on any error.
                    target = Path(self.options.output)
                    work = stack.enter_context(
                        tempfile.TemporaryDirectory(
                            prefix=temporary_prefix(target), dir=target.parent
                        )
                    )
                    export_path = os.path.join(work, get_format().member_name)
                self.write(scope, export_path)
                if self.options.media:
                    self.archive(export_path)
        except BaseException as error:
            self.record_run(*outcome_of(error), duration=time.monotonic() - started)
            if self.warning:
                error.add_note(self.warning)
            raise
        self.report.duration = time.monotonic() - started
        self.record_run(ExportRecord.Status.SUCCEEDED, "", duration=self.report.duration)
        return ExportRun(
            report=self.report,
            record=None if self.warning else self.record,
            warning=self.warning,
            manifest=self.manifest,
            until=self.until,
        )

    def scope(self):
        """The organizations' subset (subset.OrganizationScope), the rows changed since a
        time (changes.ChangesScope, made here: its `until` is the export's start), or None
        for every row. Raises DataTransferError for an unknown slug."""
        if self.options.since is not None:
            return changes_scope(
                self.options.since, self.options.organizations, using=self.options.using
            )
        if not self.options.organizations:
            return None
        return organization_scope(self.options.organizations, using=self.options.using)

    def write(self, scope, path: str) -> None:
        """Write the export to `path`, counting its size and SHA-256 as it is written and,
        for an archive, collecting the uploads its documents name."""
        options = self.options
        self._files = ReferencedFiles() if options.media else None
        try:
            with open_output(path, stdout=self.stdout, digest=self._digest) as stream:
                self.report = export_domain(
                    stream,
                    using=options.using,
                    exclude=options.exclude,
                    exclude_secrets=options.exclude_secrets,
                    indent=options.indent,
                    file_name=options.output,
                    scope=scope,
                    on_table=self.on_table,
                    on_row=self._files,
                    signing_key=options.signing_key,
                    lock_timeout=options.lock_timeout,
                    export_format=format_for_path(path).name,
                    anonymize_key=options.anonymize_key,
                )
        except BrokenPipeError as error:
            if not options.to_stdout:
                raise self._cannot_write(error) from error
            raise OutputClosed(f"The reader of {options.output} closed the pipe.") from None
        except OSError as error:
            raise self._cannot_write(error) from error
        if not options.to_stdout:
            self.report.file_size = self._digest.size

    def archive(self, export_path: str) -> None:
        """Write the archive: the export just written and the uploads it names."""
        options = self.options
        try:
            self.manifest, archive = write_archive(
                options.output,
                export_path,
                self._digest,
                self._files.paths,
                options.media_root,
                signing_key=options.signing_key,
            )
        except OSError as error:
            raise self._cannot_write(error) from error
        self._digest = archive
        self.report.file_size = archive.size

    def record_run(self, status: str, error: str, *, duration: float) -> None:
        """Save the run's end on the history record: its status, error, duration and,
        when it succeeded, the rows per table and the file's size and SHA-256."""
        record = self.record
        record.status, record.error = status, error
        record.duration = dt.timedelta(seconds=duration)
        if status == ExportRecord.Status.SUCCEEDED:
            record.table_counts = dict(self.report.tables)
            record.total_rows = self.report.total
            if not self.options.to_stdout:
                record.file_size, record.checksum = self._digest.size, self._digest.sha256
        self.warning = save_record(record) or self.warning

    def _cannot_write(self, error: OSError) -> DataTransferError:
        reason = error.strerror or error
        name = "standard output" if self.options.to_stdout else self.options.output
        return DataTransferError(f"Cannot write {name}: {reason}.", code=Code.CANNOT_WRITE)
