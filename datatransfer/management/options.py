"""The options the three commands share, spelled as Django's own (`--database`, `-e`), and
dumpdomain's, read into one ExportOptions."""

from django.core.management.base import CommandError

from datatransfer.exceptions import EXIT_REFUSED, DataTransferError
from datatransfer.export_job import ExportOptions
from datatransfer.fileformat import unwritable_reason
from datatransfer.registry import audit_log_keys, excluded_keys
from datatransfer.reports import write_report
from datatransfer.routers import domain_database


def add_database_option(parser, verb: str) -> None:
    parser.add_argument(
        "--database",
        default=domain_database(),
        help=f"Database alias to {verb} (default: {domain_database()}, the DATABASE_URL database).",
    )


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


def error_line(error, hints: dict) -> str:
    """The engine error's one-line message, with the command's hint for its class (from
    `hints`, {exception class: text}) in parentheses before the final period."""
    message = str(error)
    hint = next((text for kind, text in hints.items() if isinstance(error, kind)), None)
    if hint is None:
        return message
    body, period = (message[:-1], ".") if message.endswith(".") else (message, "")
    return f"{body} ({hint}){period}"


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
        "--exclude-secrets",
        action="store_true",
        help="Write password hashes and invite tokens empty.",
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
        command="dumpdomain --with-media" if options["with_media"] else "dumpdomain",
    )
