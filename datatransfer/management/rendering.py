"""The text the commands print: reports as tables and lines, hints naming the flags.

Reports (reports.py) are data; the engines' messages name no command-line flag. Here an
error's or a note's code (exceptions.Code) becomes the hint that names the flag.
"""

import os

from django.db import DEFAULT_DB_ALIAS, connections

from datatransfer.databases import describe
from datatransfer.exceptions import EXIT_CONFLICTS, EXIT_ROWS_FAILED, Code, escaped, one_line
from datatransfer.files import human_size
from datatransfer.formats.rows import format_datetime
from datatransfer.media import DIFFERENT_FILE, MANIFEST_MEMBER
from datatransfer.reports import (
    ExportReport,
    ImportReport,
    MediaOutcome,
    MediaReport,
    Outcome,
    RowIssue,
)
from datatransfer.verifier import VerifyReport

ALL_OF_THEM = "all of them with -v 2 or --report FILE"

# What the command line can do about an engine error or a note, by its code.
HINTS = {
    Code.UNKNOWN_NAMES: "use --ignore-unknown to skip them",
    Code.UNKNOWN_SKIPPED: "--ignore-unknown",
    Code.NOT_VERIFIED: "use --no-verify to load it anyway",
    Code.UNVERIFIED: "--no-verify",
    Code.SIGNATURE: "DATATRANSFER_SIGNING_KEY is set: only files signed with it load",
    Code.VERIFY_REQUIRED: "--no-verify is refused while it is set",
    Code.LOCK_TIMEOUT: "run it again later, or wait longer with --lock-timeout SECONDS",
    Code.IMPORT_LOCKED: "or use --wait to queue behind it",
    Code.STRICT: "--strict",
    Code.MEDIA_DIFFERS: "use --overwrite-media to replace it",
    Code.NOT_AN_ARCHIVE: "dumpdomain --with-media writes one",
    Code.PLAN_CHANGED: "make a new plan: loaddomain FILE --dry-run --plan-out PLAN",
    Code.ANONYMIZE_KEY_MISSING: "--anonymize masks under that key: set it, the same on every run",
}
# How an issue's kind reads: its line's prefix, and its count among a root's dependants.
ISSUE_PREFIX = {"conflict": "conflict", "error": "error", "unlinked": "unlinked"}
ISSUE_COUNTED = {"conflict": "skipped", "error": "failed", "unlinked": "written without its link"}


def hinted(text: str, hint: str | None) -> str:
    """`text` with `hint` in parentheses before its final period (none: `text`)."""
    if not hint:
        return text
    body, period = (text[:-1], ".") if text.endswith(".") else (text, "")
    return f"{body} ({hint}){period}"


def error_line(error, hints: dict | None = None) -> str:
    """The engine error's one-line message with the hint for its code (`hints`, {Code:
    text}, overrides the command line's HINTS)."""
    code = getattr(error, "code", None)
    return hinted(str(error), {**HINTS, **(hints or {})}.get(code))


def note_line(note) -> str:
    """`Note: ...`, a report's note with the hint for its code, if any."""
    return "Note: " + hinted(str(note), HINTS.get(getattr(note, "code", None)))


def database_named(alias: str) -> str:
    """`database 'prod' (postgresql db.example:5432/platform_prod)`: the alias and where it
    really points (engine host:port/dbname, or sqlite and its file; never a user nor a
    password), so a dry run's output shows which database it read."""
    try:
        return f"database '{alias}' ({describe(alias)})"
    except KeyError:  # an alias no longer configured (an old record in the admin)
        return f"database '{alias}'"


def start_line(verb: str, what: str, alias: str, preposition: str) -> str:
    """The first line of a command that reads or writes a platform database, naming it:
    `Loading exports/x.json into database 'prod' (postgresql host:5432/platform_prod)...`."""
    return f"{verb} {what} {preposition} {database_named(alias)}..."


def render_table(header: list[str], rows: list[list], footer: list) -> str:
    """Render rows as an aligned text table: first column left, others right-aligned."""
    cells = [header] + [[str(c) for c in row] for row in rows] + [[str(c) for c in footer]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "  ".join(
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *map(line, cells[1:-1]), rule, line(cells[-1])])


def render_export(report: ExportReport) -> str:
    """The rows per table (and as references, for a subset), then the file written."""
    header = ["table", "rows"]
    rows = [[key, f"{count:,}"] for key, count in report.tables.items()]
    footer = ["total", f"{report.total:,}"]
    if report.references:  # a subset: the rows there only as references, without secrets
        header.append("as references")
        for row in rows:
            row.append(f"{report.references.get(row[0], 0):,}")
        footer.append(f"{sum(report.references.values()):,}")
    table = render_table(header, rows, footer)
    left_out = (
        f"\nLeft out (written as empty lists): {', '.join(report.excluded)}."
        if report.excluded
        else ""
    )
    written = (
        f"{human_size(report.file_size)} to standard output"
        if report.file == "-"
        else f"{report.file} ({human_size(report.file_size)})"
    )
    return (
        f"{table}\n\nWrote {written} from "
        f"{database_named(report.database)} in {report.duration:.1f} s.{left_out}"
    )


def masked_line(key_id: str) -> str:
    """What an anonymized export adds to its summary: under which key (its id, never the key)."""
    return (
        f"Personal fields masked under the key {key_id} (DATATRANSFER_ANONYMIZE_KEY): the same "
        "key gives the same masks on every run."
    )


def render_import(report: ImportReport) -> str:
    totals = report.totals
    # deleted: a column only for an import that pruned (or would have)
    shown = [o for o in Outcome if o is not Outcome.DELETED or report.pruned]
    header = ["table", *(o.value for o in shown)]
    rows = [[key, *(f"{counts[o]:,}" for o in shown)] for key, counts in report.tables.items()]
    footer = ["total", *(f"{totals[o]:,}" for o in shown)]
    if report.has_unlinked:  # rows written without a link, counted in their outcome too
        header.append("unlinked")
        for row in rows:
            row.append(f"{report.unlinked.get(row[0], 0):,}")
        footer.append(f"{report.unlinked_total:,}")
    if report.match == "natural":
        header.append("matched")
        for row in rows:
            row.append(f"{report.matched(row[0]):,}")
        footer.append(f"{sum(report.matched(key) for key in report.tables):,}")
    table = render_table(header, rows, footer)
    verb = "Checked" if report.dry_run else "Loaded"
    text = (
        f"{table}\n\n{verb} {report.file} ({human_size(report.file_size)}) into "
        f"{database_named(report.database)} in {report.duration:.1f} s."
    )
    if report.dry_run:
        text += "\nDRY RUN: nothing was written; the counts are what a real run would do."
    return text


def issue_line(issue: RowIssue) -> str:
    """`conflict: users ck...: email 'a@b' already belongs to users '...'`."""
    return f"{ISSUE_PREFIX.get(issue.kind, issue.kind)}: {issue}"


def counted(issues) -> list[str]:
    """`149 skipped`, `40 skipped, 2 failed`: how many of `issues` of each kind."""
    counts = {}
    for issue in issues:
        counts[issue.kind] = counts.get(issue.kind, 0) + 1
    return [f"{n:,} {ISSUE_COUNTED.get(kind, kind)}" for kind, n in counts.items()]


def natural_hint(issue: RowIssue, report: ImportReport) -> str | None:
    """What `--match natural` would do with a conflict on the table's natural key."""
    if issue.code is not Code.NATURAL_KEY_HELD or report.match == "natural":
        return None
    return (
        f"hint: {issue.table} '{escaped(issue.id)}' and the target's {issue.table} "
        f"'{escaped(issue.holder)}' share the natural key {one_line(issue.key)}: --match natural "
        "would update that row and link the file's rows to it."
    )


def root_lines(root: RowIssue, dependants: list, report: ImportReport) -> list[str]:
    """A root issue, what follows from it (in all, then per table), and the hint."""
    lines = [issue_line(root)]
    if dependants:
        first, *others = counted(dependants)
        number, word = first.split(" ", 1)
        rows = "row" if number == "1" else "rows"
        lines.append(f"  because of it: {', '.join([f'{number} {rows} {word}', *others])}")
        tables = {}
        for issue in dependants:
            tables.setdefault(issue.table, []).append(issue)
        lines += [f"    {table}: {', '.join(counted(rows))}" for table, rows in tables.items()]
    if hint := natural_hint(root, report):
        lines.append(f"  {hint}")
    return lines


def render_issues(report: ImportReport, limit: int | None = 20) -> str:
    """The skipped, failed and unlinked rows, grouped by cause: first, always, each root
    issue that other rows follow from (or that a match by natural key would resolve),
    with those rows counted per table; then one line per other issue, the roots first (the
    first `limit` of them, then how many more)."""
    own, following = report.by_cause()
    lines, rest = [], []
    for issue in own:
        dependants = following.get((issue.table, issue.id), [])
        if dependants or natural_hint(issue, report):
            lines += root_lines(issue, dependants, report)
        else:
            rest.append(issue)
    rest += [issue for issues in following.values() for issue in issues]
    shown = rest if limit is None else rest[:limit]
    lines += [issue_line(issue) for issue in shown]
    if len(rest) > len(shown):
        lines.append(f"... and {len(rest) - len(shown)} more ({ALL_OF_THEM}).")
    return "\n".join(lines)


def render_plan(tables) -> str:
    """The order tables are written in, what each needs first, and the links set last."""
    lines = []
    for number, table in enumerate(tables, start=1):
        needs = ", ".join(table.dependencies) or "-"
        line = f"{number:>2}. {table.key:<22} after: {needs}"
        if table.deferred:
            line += f"; set last: {', '.join(spec.key for spec in table.deferred)}"
        lines.append(line)
    return "\n".join(lines)


def render_media_export(manifest: dict, *, limit: int | None = 20) -> str:
    """How many files the archive holds, then the missing ones (`limit` of them) and why."""
    files, missing = manifest["files"], manifest["missing"]
    total = sum(entry["size"] for entry in files)
    size = human_size(total)
    lines = [f"Uploaded files: {len(files):,} in the archive ({size}), {len(missing):,} missing."]
    shown = missing if limit is None else missing[:limit]
    lines += [f"missing: {entry['path']} ({entry['reason']})" for entry in shown]
    if len(missing) > len(shown):
        more = len(missing) - len(shown)
        lines.append(f"... and {more} more (all of them with -v 2, and in {MANIFEST_MEMBER}).")
    return "\n".join(lines)


def render_media_import(report: MediaReport, *, limit: int | None = 20) -> str:
    """The counts of each outcome, then the conflicts and failures (`limit` of them)."""
    counts = ", ".join(f"{count:,} {outcome}" for outcome, count in report.counts.items())
    lines = [f"Uploaded files under {report.media_root}: {counts}."]
    if report.dry_run:
        lines.append("DRY RUN: no file was written; the counts are what a real run would do.")
    issues = [
        (p, o, m) for p, o, m in report.files if o in (MediaOutcome.CONFLICT, MediaOutcome.FAILED)
    ]
    shown = issues if limit is None else issues[:limit]
    differs = HINTS[Code.MEDIA_DIFFERS]
    lines += [
        f"{outcome}: {path}: {hinted(message, differs) if message == DIFFERENT_FILE else message}"
        for path, outcome, message in shown
    ]
    if len(issues) > len(shown):
        lines.append(f"... and {len(issues) - len(shown)} more ({ALL_OF_THEM}).")
    return "\n".join(lines)


def render_verify(report: VerifyReport) -> str:
    header = ["table", "in file", "matching", "missing", "differing", "extra", "invalid"]
    tables = report.tables.values()
    rows = [
        [
            t.key,
            t.in_file,
            t.matching,
            len(t.missing),
            len(t.differing),
            len(t.extra),
            len(t.invalid),
        ]
        for t in tables
    ]
    sums = [sum(row[i] for row in rows) for i in range(1, len(header))]
    table = render_table(
        header,
        [[r[0], *(f"{n:,}" for n in r[1:])] for r in rows],
        ["total", *(f"{n:,}" for n in sums)],
    )
    verdict = (
        "The database agrees with the file."
        if report.agrees
        else "The database differs from the file."
    )
    return (
        f"{table}\n\nCompared {report.file} ({human_size(report.file_size)}) with "
        f"{database_named(report.database)} in {report.duration:.1f} s: nothing was "
        f"written.\n{verdict}"
    )


def difference_lines(report: VerifyReport):
    """One line per difference: `missing: users ck...: not in the database`, ..."""
    for t in report.tables.values():
        how = " (compared by content)" if t.by_content else ""
        for row_id in t.missing:
            yield f"missing: {t.key} {row_id}: in the file, not in the database{how}"
        for difference in t.differing:
            yield f"differs: {t.key} {difference.id}: {difference}"
        for row_id in t.extra:
            yield f"extra: {t.key} {row_id}: in the database, not in the file{how}"
        for row_id, message in t.invalid:
            yield f"invalid: {t.key} {row_id}: {message}"


def render_verify_result(report: VerifyReport, *, limit: int | None = 20) -> str:
    """Everything verifydomain prints: the table, the notes, the differences (`limit` of
    them, then how many more)."""
    lines = [render_verify(report), *(note_line(note) for note in report.notes)]
    differences = difference_lines(report)
    for number, line in enumerate(differences):
        if number == limit:
            rest = sum(1 for _ in differences) + 1
            lines.append(f"... and {rest} more ({ALL_OF_THEM}).")
            break
        lines.append(line)
    return "\n".join(lines)


def render_import_result(report: ImportReport, *, limit: int | None = 20) -> str:
    """Everything loaddomain prints: the table, the notes, the issues (`limit` of them),
    and an archive's files."""
    lines = [render_import(report), *(note_line(note) for note in report.notes)]
    if report.issues:
        lines.append(render_issues(report, limit=limit))
    if report.media:
        lines.append(render_media_import(report.media, limit=limit))
    return "\n".join(lines)


def undo_line(run: str) -> str:
    """The last line of a real import's summary: its run id and the command that undoes it."""
    return f"Run {run}: to undo it, python manage.py revertimport {run}{same_env_file()}"


def render_revert(report) -> str:
    """A revert's rows deleted and restored per table, then what was done (or not)."""
    rows = [[key, f"{c['deleted']:,}", f"{c['restored']:,}"] for key, c in report.tables.items()]
    footer = [
        "total",
        f"{sum(c['deleted'] for c in report.tables.values()):,}",
        f"{sum(c['restored'] for c in report.tables.values()):,}",
    ]
    table = render_table(["table", "deleted", "restored"], rows, footer)
    where = database_named(report.database)
    if report.dry_run:
        return (
            f"{table}\n\nChecked the revert of run {report.run} in {where}: every row is as "
            "the import left it.\nDRY RUN: nothing was written; the counts are what a real "
            "revert would do."
        )
    return (
        f"{table}\n\nReverted run {report.run} (the import of {report.file}) in {where} in "
        f"{report.duration:.1f} s."
    )


def left_out_note(excluded, audit_logs) -> str:
    """`Note: ...` naming the tables an import left out, which its table no longer shows:
    `audit_logs` (the keys --skip-audit leaves out) named as such, the others as `-e`'s."""
    skipped = [key for key in sorted(excluded) if key in audit_logs]
    others = [key for key in sorted(excluded) if key not in audit_logs]
    named = [f"{', '.join(skipped)} (--skip-audit)"] if skipped else []
    named += [f"{', '.join(others)} (-e)"] if others else []
    return f"Note: left out, not loaded and not counted above: {'; '.join(named)}."


def import_verdict(report: ImportReport) -> tuple[str, int] | None:
    """The closing error line of an import and its exit status, or None when all went
    well: files that could not be written, then failed rows, then conflicts."""
    done = "checked" if report.dry_run else "loaded"
    if report.media and report.media.has_failures:
        return (
            f"{report.media.counts['failed']} uploaded file(s) could not be written (listed "
            f"above); the database import {'was checked' if report.dry_run else 'is committed'}.",
            EXIT_ROWS_FAILED,
        )
    if report.has_failures or report.has_unlinked:
        # A row written without a link differs from the file: as a failed row does.
        failed = [f"{report.totals['failed']} row(s) failed"] if report.has_failures else []
        if report.has_unlinked:
            failed.append(f"{report.unlinked_total} row(s) written without a link (listed above)")
        return f"{', '.join(failed)}; the other rows were {done}.", EXIT_ROWS_FAILED
    if report.has_conflicts:
        return (
            f"{report.totals['skipped']} row(s) skipped as conflicts (their target rows were left "
            f"as they are); the other rows were {done}.",
            EXIT_CONFLICTS,
        )
    return None


def next_step(output: str, source: str) -> str:
    """How to import the file: its path from where the user stands, and the other
    database when exactly one is configured (else a placeholder)."""
    relative = os.path.relpath(output)
    path = output if relative.startswith("..") else relative
    others = [alias for alias in connections if alias not in (DEFAULT_DB_ALIAS, source)]
    target = others[0] if len(others) == 1 else "TARGET"
    return f"Import it with: python manage.py loaddomain {path} --database {target} --dry-run"


def same_env_file() -> str:
    """` --env-file PATH` when this command read another env file than `.env` (the flag, or
    ENV_FILE): a next command shown to the user must read the same settings, or it would
    run against another database."""
    named = os.environ.get("ENV_FILE")
    if not named or os.path.realpath(named) == os.path.realpath(os.devnull):
        return ""
    relative = os.path.relpath(named)
    return f" --env-file {named if relative.startswith('..') else relative}"


def next_since(since, until) -> str:
    """After an export of the changes since a time: what it holds, and where the next one
    starts: the time this one started (changes.py: nothing falls between the two)."""
    return (
        f"Partial: the rows changed since {format_datetime(since)}, and the rows they need. "
        f"Next time: --since {format_datetime(until)}"
    )


def render_swept(swept, *, dry_run: bool = False) -> str:
    """What a sweep (leftovers.sweep) removed and marked, in one line."""
    if dry_run:
        return (
            f"Would remove {swept.files} leftover file(s) of runs that ended without "
            f"finishing (killed or crashed); would mark {swept.records} run(s) interrupted."
        )
    return (
        f"Removed {swept.files} leftover file(s) of runs that ended without finishing "
        f"(killed or crashed); marked {swept.records} run(s) interrupted."
    )
