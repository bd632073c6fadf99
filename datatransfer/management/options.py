"""The options the commands share, spelled as Django's own (`--database`, `-e`), and
each command's own, read into one ImportOptions (loaddomain) or ExportOptions (dumpdomain)."""

import argparse
import math

from django.core.management.base import CommandError

from datatransfer.changes import parse_since
from datatransfer.databases import require_configured
from datatransfer.exceptions import EXIT_REFUSED, DataTransferError
from datatransfer.export_job import ExportOptions
from datatransfer.files import unwritable_reason
from datatransfer.importer import ImportOptions
from datatransfer.registry import audit_log_keys, excluded_keys
from datatransfer.reports import write_report
from datatransfer.routers import domain_database
from datatransfer.writer import DEFAULT_BATCH_SIZE


def add_database_option(parser, verb: str) -> None:
    parser.add_argument(
        "--database",
        default=domain_database(),
        help=f"Database alias to {verb} (default: {domain_database()}, the DATABASE_URL database).",
    )


def require_database(alias: str) -> None:
    """Refuse, before any output, a database the settings leave unconfigured (the
    platform's with no DATABASE_URL): one line, exit status 2.

    Raises CommandError."""
    try:
        require_configured(alias)
    except DataTransferError as error:
        raise CommandError(str(error), returncode=error.exit_code) from None


def add_exclude_options(parser, *, skip_audit: bool = True) -> None:
    parser.add_argument(
        "-e",
        "--exclude",
        action="append",
        default=[],
        metavar="TABLE",
        help="Leave a table out (its file key, e.g. auditLogs); repeat for several.",
    )
    if skip_audit:
        audit = ", ".join(audit_log_keys()) or "no table (none is declared an audit log)"
        parser.add_argument("--skip-audit", action="store_true", help=f"Leave {audit} out.")


def excluded_tables(options) -> set:
    """The file keys of `-e` (repeated or comma-separated; a file key such as `auditLogs`
    or a model label such as `core.AuditLog`, as dumpdata takes), plus the tables declared
    `audit_log` for --skip-audit.

    Raises CommandError naming the valid names for a name that is neither."""
    names = {name for value in options["exclude"] for name in value.split(",") if name}
    try:
        exclude = excluded_keys(names)
    except DataTransferError as error:
        raise CommandError(str(error), returncode=EXIT_REFUSED) from None
    if options.get("skip_audit"):
        exclude.update(audit_log_keys())
    return exclude


def add_report_option(parser, what: str) -> None:
    parser.add_argument(
        "--report",
        metavar="REPORT.json",
        help=f"Write {what} as JSON (a private file, mode 0600).",
    )


def check_report_path(options) -> None:
    """Refuse (exit 2) a --report that cannot be written, before any work is done."""
    path = options["report"]
    reason = unwritable_reason(path) if path else None
    if reason:
        raise CommandError(f"Cannot write the report {path}: {reason}.", returncode=EXIT_REFUSED)


def save_report(options, document: dict, *, returncode: int, after: str = "") -> None:
    """Write the --report file, if asked; a failure is one line with `returncode`, saying
    what was done all the same (`after`)."""
    path = options["report"]
    if not path:
        return
    try:
        write_report(path, document)
    except OSError as error:
        raise CommandError(
            f"Cannot write the report {path}: {error.strerror or error}{after}.",
            returncode=returncode,
        ) from None


def seconds(value: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of seconds, 0 or more")
    return number


def add_lock_timeout_option(parser, who: str, outcome: str) -> None:
    """--lock-timeout, the same for every command: `who` needs the lock; `outcome` is what
    giving up leaves."""
    parser.add_argument(
        "--lock-timeout",
        type=seconds,
        metavar="SECONDS",
        help=f"On PostgreSQL, give up (exit 2, {outcome}) when another session holds "
        f"a lock {who} needs for longer than this (default: DATATRANSFER_LOCK_TIMEOUT, "
        "30; 0: no limit).",
    )


def add_import_arguments(parser) -> None:
    """loaddomain's arguments: the file, then one per ImportOptions field."""
    parser.add_argument(
        "file",
        nargs="?",
        help="Export file or archive to load; '-' reads standard input (with --apply: the "
        "plan's file when left out).",
    )
    add_database_option(parser, "write")
    parser.add_argument(
        "--dry-run", action="store_true", help="Do the whole import, then roll it back."
    )
    add_exclude_options(parser, skip_audit=True)
    parser.add_argument(
        "--strict", action="store_true", help="Roll everything back at the first failed row."
    )
    add_report_option(parser, "the statistics and every issue")
    parser.add_argument(
        "--ignore-unknown", action="store_true", help="Skip tables and fields the models lack."
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"Rows per batch (default {DEFAULT_BATCH_SIZE}).",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="Load even a file whose rows do not match its manifest (an edited file), a "
        "format 2.0 file without its manifest, or a file of a format version this tool does "
        "not read, saying so. Refused (exit 2, nothing written) when DATATRANSFER_SIGNING_KEY "
        "is set: then the signature and every table's rows are always checked.",
    )
    parser.add_argument(
        "--overwrite-media",
        action="store_true",
        help="From an archive, replace an uploaded file that differs (default: keep it).",
    )
    parser.add_argument(
        "--match",
        choices=("id", "natural"),
        default="id",
        help="id (default): rows are matched by id; natural: a row whose id is not in the "
        "target but whose natural key (User.email, Organization.slug, ...) is there updates "
        "that row, and every link to it follows.",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="If another import is running into the same PostgreSQL database, wait for it "
        "instead of failing.",
    )
    add_lock_timeout_option(parser, "the import", "nothing written")


def add_prune_argument(parser) -> None:
    """loaddomain's --prune."""
    parser.add_argument(
        "--prune",
        action="store_true",
        help="Also delete the database's rows within the file's scope that the file does not "
        "hold (the whole domain for a full export, the organizations' rows for a subset), "
        "children first; append-only and immutable tables are never pruned. Refused for a "
        "partial (--since) file.",
    )


def import_options(options) -> ImportOptions:
    """The ImportOptions of loaddomain's parsed `options` (CommandError, exit 2, for a bad
    `-e` or --batch-size; DataTransferError for what ImportOptions refuses)."""
    exclude = excluded_tables(options)
    if options["batch_size"] < 1:
        raise CommandError("--batch-size must be at least 1.", returncode=EXIT_REFUSED)
    return ImportOptions(
        using=options["database"],
        dry_run=options["dry_run"],
        strict=options["strict"],
        exclude=exclude,
        ignore_unknown=options["ignore_unknown"],
        batch_size=options["batch_size"],
        wait=options["wait"],
        verify=not options["no_verify"],
        match=options["match"],
        lock_timeout=options["lock_timeout"],
        overwrite_media=options["overwrite_media"],
        prune=options.get("prune", False),
    )


def add_export_options(parser) -> None:
    """dumpdomain's options (those of ExportOptions)."""
    parser.add_argument("output", nargs="?", help="File to write (default: exports/...).")
    parser.add_argument("-o", "--output", dest="output_option", help="Same as OUTPUT.")
    add_database_option(parser, "read")
    add_exclude_options(parser, skip_audit=True)
    parser.add_argument(
        "--organization",
        action="append",
        default=[],
        metavar="SLUG",
        help="Export only this organization, its data and the rows they reference; "
        "repeat for several.",
    )
    parser.add_argument(
        "--since",
        metavar="TIMESTAMP",
        help="Export only the rows created or updated since TIMESTAMP (ISO 8601: "
        "2026-12-07T18:00:00Z, 2026-12-07T19:00+01:00, 2026-12-07; without an offset, UTC), "
        "by each table's updatedAt (else createdAt; every row of a table with neither), and "
        "the rows they need, as references. The file says it is partial; the summary gives "
        "the TIMESTAMP for the next time. With --organization: its changed rows.",
    )
    parser.add_argument(
        "--exclude-secrets",
        action="store_true",
        help="Write password hashes and invite tokens empty.",
    )
    parser.add_argument(
        "--anonymize",
        action="store_true",
        help="Mask every personal field (emails, names, phones, free text, password hashes, "
        "tokens) as the models declare, deterministically under DATATRANSFER_ANONYMIZE_KEY "
        "(required): for a staging copy of production. See docs/masking.md.",
    )
    parser.add_argument(
        "--indent",
        type=int,
        default=2,
        help="Indentation (default 2, as the old tool; 0 for one line).",
    )
    parser.add_argument(
        "--with-media",
        action="store_true",
        help="Write a tar archive (OUTPUT.tar or .tar.gz): the export and every uploaded file "
        "its documents name, from MEDIA_ROOT.",
    )
    add_lock_timeout_option(parser, "the export", "no file written")


def _command_line(options) -> str:
    """How the history names an export of the command line: `dumpdomain --with-media`..."""
    flags = [
        flag for flag in ("--with-media", "--anonymize") if options[flag[2:].replace("-", "_")]
    ]
    return " ".join(["dumpdomain", *flags])


def export_options(options) -> ExportOptions:
    """The ExportOptions of dumpdomain's parsed `options`.

    Raises CommandError (exit 2) for OUTPUT and -o together or an unknown table name,
    and DataTransferError as ExportOptions does."""
    if options["output_option"] and options["output"]:
        raise CommandError(
            "Give the output once: OUTPUT or -o/--output, not both.", returncode=EXIT_REFUSED
        )
    return ExportOptions(
        output=options["output_option"] or options["output"] or "",
        using=options["database"],
        exclude=excluded_tables(options),
        exclude_secrets=options["exclude_secrets"],
        organizations=options["organization"],
        indent=options["indent"],
        media=options["with_media"],
        command=_command_line(options),
        lock_timeout=options["lock_timeout"],
        since=since_option(options),
        anonymize=options["anonymize"],
    )


def since_option(options):
    """The aware time of --since, or None. Raises CommandError (exit 2) for a value that is
    not an ISO 8601 time."""
    if options.get("since") is None:
        return None
    try:
        return parse_since(options["since"])
    except DataTransferError as error:
        raise CommandError(f"--since: {error}", returncode=EXIT_REFUSED) from None


def add_comparison_arguments(parser) -> None:
    """verifydomain's options of what to compare: --ignore-unknown, --match, --no-verify,
    and --lock-timeout."""
    parser.add_argument(
        "--ignore-unknown", action="store_true", help="Skip tables and fields the models lack."
    )
    parser.add_argument(
        "--match",
        choices=("id", "natural"),
        default="id",
        help="id (default): file rows are compared with the rows of the same id; natural: as "
        "`loaddomain --match natural` loaded them, a row whose id is not in the database is "
        "compared with the row holding its natural key, and links follow.",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="Compare even a file whose rows do not match its manifest, saying so. Refused "
        "(exit 2) when DATATRANSFER_SIGNING_KEY is set: then the signature and every table's "
        "rows are always checked.",
    )
    add_lock_timeout_option(parser, "the comparison", "nothing compared")
