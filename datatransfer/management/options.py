"""The options the three commands share, spelled as Django's own (`--database`, `-e`)."""

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
    """The file keys of `-e` (repeated or comma-separated), plus auditLogs for --skip-audit."""
    exclude = {name for value in options["exclude"] for name in value.split(",") if name}
    if options.get("skip_audit"):
        exclude.add(AUDIT_TABLE)
    return exclude
