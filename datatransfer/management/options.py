"""The options the three commands share, spelled as Django's own (`--database`, `-e`)."""

from django.core.management.base import CommandError

from datatransfer.exceptions import EXIT_REFUSED
from datatransfer.fileformat.writer import unwritable_reason
from datatransfer.registry import domain_tables
from datatransfer.reports import write_report
from datatransfer.routers import domain_database

AUDIT_TABLE = "auditLogs"


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
        parser.add_argument("--skip-audit", action="store_true", help=f"Leave {AUDIT_TABLE} out.")


def excluded_tables(options) -> set:
    """The file keys of `-e` (repeated or comma-separated; a file key such as `auditLogs`
    or a model label such as `core.AuditLog`, as dumpdata takes), plus auditLogs for
    --skip-audit.

    Raises CommandError naming the valid names for a name that is neither."""
    names = {name for value in options["exclude"] for name in value.split(",") if name}
    by_name = {}
    for table in domain_tables():
        by_name[table.key] = by_name[table.label.lower()] = table.key
    unknown = sorted(
        name for name in names if (by_name.get(name) or by_name.get(name.lower())) is None
    )
    if unknown:
        valid = ", ".join(f"{t.key} ({t.label})" for t in domain_tables())
        raise CommandError(
            f"Unknown table(s) to exclude: {', '.join(unknown)}. Valid names: {valid}.",
            returncode=2,
        )
    exclude = {by_name.get(name) or by_name[name.lower()] for name in names}
    if options.get("skip_audit"):
        exclude.add(AUDIT_TABLE)
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
