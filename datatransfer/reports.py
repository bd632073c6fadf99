"""Results of an export or an import, as objects that never print, and their text rendering."""

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

from datatransfer.exceptions import escaped, one_line
from datatransfer.fileformat import atomic_file


class Outcome(enum.StrEnum):
    CREATED = "created"
    APPENDED = "appended"  # an append-only table's row, new to the target: under a new id
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class RowIssue:
    """Why a row was skipped (`kind="conflict"`) or failed (`kind="error"`)."""

    table: str
    id: str
    kind: str
    message: str

    def as_dict(self) -> dict:
        return {"table": self.table, "id": self.id, "kind": self.kind, "message": self.message}

    def __str__(self) -> str:
        """One printed line: ids and values from the file have their control characters
        escaped (the JSON report keeps them as they are)."""
        return f"{self.table} {escaped(self.id)}: {one_line(self.message)}"


@dataclass
class ImportReport:
    """Per-table counts of each Outcome, and the issues behind skipped and failed rows.

    With `match="natural"`, also the rows matched by natural key (each also counted as
    updated or unchanged, or skipped or failed) and their ids: {table: {file id: target id}}.
    """

    file: str
    database: str
    dry_run: bool = False
    tables: dict = field(default_factory=dict)
    issues: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    duration: float = 0.0
    file_size: int = 0
    match: str = "id"
    id_mapping: dict = field(default_factory=dict)

    def add_table(self, key: str) -> None:
        self.tables.setdefault(key, dict.fromkeys(Outcome, 0))

    def record(self, table: str, outcome: Outcome, row_id=None, message: str | None = None) -> None:
        self.add_table(table)
        self.tables[table][outcome] += 1
        if outcome in (Outcome.SKIPPED, Outcome.FAILED):
            kind = "conflict" if outcome is Outcome.SKIPPED else "error"
            self.issues.append(RowIssue(table, str(row_id), kind, message or ""))

    def change(self, table: str, old: Outcome, new: Outcome, row_id, message: str) -> None:
        """Turn one row's recorded outcome into another (a deferred link that failed)."""
        self.tables[table][old] -= 1
        self.record(table, new, row_id, message)

    @property
    def totals(self) -> dict:
        return {o: sum(counts[o] for counts in self.tables.values()) for o in Outcome}

    @property
    def has_failures(self) -> bool:
        return self.totals[Outcome.FAILED] > 0

    @property
    def has_conflicts(self) -> bool:
        """Whether rows were skipped (a unique key held by another row, or a dependency on
        a skipped row)."""
        return self.totals[Outcome.SKIPPED] > 0

    def matched(self, table: str) -> int:
        """How many rows of `table` took a target row's id (--match natural)."""
        return len(self.id_mapping.get(table, ()))

    def as_dict(self) -> dict:
        tables = {
            key: {o.value: n for o, n in counts.items()} for key, counts in self.tables.items()
        }
        totals = {o.value: n for o, n in self.totals.items()}
        extra = {}
        if self.match == "natural":  # with --match id, the report stays as it always was
            for key, counts in tables.items():
                counts["matched"] = self.matched(key)
            totals["matched"] = sum(counts["matched"] for counts in tables.values())
            extra["idMapping"] = {
                key: {str(file_id): str(target_id) for file_id, target_id in ids.items()}
                for key, ids in self.id_mapping.items()
                if ids and key in tables
            }
        return {
            "dryRun": self.dry_run,
            "file": self.file,
            "database": self.database,
            "tables": tables,
            "totals": totals,
            **extra,
            "errors": [issue.as_dict() for issue in self.issues],
            "notes": list(self.notes),
            "durationSeconds": round(self.duration, 3),
        }


@dataclass
class ExportReport:
    """Rows written per table, of which how many only as references (a subset's), the
    tables left out (written as empty lists), and where."""

    file: str
    database: str
    tables: dict = field(default_factory=dict)
    excluded: list = field(default_factory=list)
    references: dict = field(default_factory=dict)
    file_size: int = 0
    duration: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.tables.values())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


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


def render_import(report: ImportReport) -> str:
    header = ["table", *(o.value for o in Outcome)]
    rows = [[key, *(f"{counts[o]:,}" for o in Outcome)] for key, counts in report.tables.items()]
    totals = report.totals
    footer = ["total", *(f"{totals[o]:,}" for o in Outcome)]
    if report.match == "natural":
        header.append("matched")
        for row in rows:
            row.append(f"{report.matched(row[0]):,}")
        footer.append(f"{sum(report.matched(key) for key in report.tables):,}")
    table = render_table(header, rows, footer)
    verb = "Checked" if report.dry_run else "Loaded"
    text = (
        f"{table}\n\n{verb} {report.file} ({human_size(report.file_size)}) into database "
        f"'{report.database}' in {report.duration:.1f} s."
    )
    if report.dry_run:
        text += "\nDRY RUN: nothing was written; the counts are what a real run would do."
    return text


def render_issues(report: ImportReport, limit: int | None = 20) -> str:
    """The skipped and failed rows, one line each (the first `limit`, then how many more)."""
    shown = report.issues if limit is None else report.issues[:limit]
    lines = [f"{'conflict' if i.kind == 'conflict' else 'error'}: {i}" for i in shown]
    if limit is not None and len(report.issues) > limit:
        lines.append(
            f"... and {len(report.issues) - limit} more (all of them with -v 2 or --report FILE)."
        )
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


def write_report(path, document: dict) -> None:
    """Write `document` as indented JSON to `path`: a private file (mode 0600, as it names
    rows of the database), under a temporary name renamed at the end. Raises OSError."""
    data = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    with atomic_file(Path(path)) as raw:
        raw.write(data.encode("utf-8"))
