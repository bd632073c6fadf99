"""Results of an export or an import, as objects that never print (management/rendering.py
writes them as text)."""

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

from datatransfer.exceptions import escaped, one_line
from datatransfer.files import atomic_file


class Note(str):
    """A note of a report: its text, and the Code of what the caller could do about it
    (the command line adds the hint naming the flag)."""

    code = None

    def __new__(cls, text: str, code=None):
        note = super().__new__(cls, text)
        note.code = code
        return note


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


class MediaOutcome(enum.StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass
class MediaReport:
    """What happened to each file of an archive on loading (or would, in a dry run)."""

    media_root: str
    dry_run: bool = False
    files: list = field(default_factory=list)  # (relative path, MediaOutcome, message)

    def add(self, path: str, outcome: MediaOutcome, message: str = "") -> None:
        self.files.append((path, outcome, message))

    @property
    def counts(self) -> dict:
        counts = dict.fromkeys(MediaOutcome, 0)
        for _, outcome, _ in self.files:
            counts[outcome] += 1
        return counts

    @property
    def has_failures(self) -> bool:
        return any(outcome == MediaOutcome.FAILED for _, outcome, _ in self.files)

    def as_dict(self) -> dict:
        return {
            "mediaRoot": self.media_root,
            "dryRun": self.dry_run,
            "counts": {str(outcome): count for outcome, count in self.counts.items()},
            "files": [{"path": p, "outcome": str(o), "message": m} for p, o, m in self.files],
        }


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
    media: MediaReport | None = None  # an archive's uploaded files
    run: str | None = None  # a real import's run id, its undo journal's (journal.py)
    # listen(table, outcome, row_id, was=None), told of each row's outcome as it is recorded
    # (`was`: the outcome it replaces); the undo journal and the plan listen (importer.py)
    listeners: list = field(default_factory=list, repr=False, compare=False)

    def add_table(self, key: str) -> None:
        self.tables.setdefault(key, dict.fromkeys(Outcome, 0))

    def record(self, table: str, outcome: Outcome, row_id=None, message: str | None = None) -> None:
        self._count(table, outcome, row_id, message)
        for listen in self.listeners:
            listen(table, outcome, row_id)

    def change(self, table: str, old: Outcome, new: Outcome, row_id, message: str) -> None:
        """Turn one row's recorded outcome into another (a deferred link that failed)."""
        self.tables[table][old] -= 1
        self._count(table, new, row_id, message)
        for listen in self.listeners:
            listen(table, new, row_id, was=old)

    def _count(self, table: str, outcome: Outcome, row_id, message) -> None:
        self.add_table(table)
        self.tables[table][outcome] += 1
        if outcome in (Outcome.SKIPPED, Outcome.FAILED):
            kind = "conflict" if outcome is Outcome.SKIPPED else "error"
            self.issues.append(RowIssue(table, str(row_id), kind, message or ""))

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
            **({"run": self.run} if self.run else {}),
            "dryRun": self.dry_run,
            "file": self.file,
            "database": self.database,
            "tables": tables,
            "totals": totals,
            **extra,
            "errors": [issue.as_dict() for issue in self.issues],
            "notes": list(self.notes),
            "durationSeconds": round(self.duration, 3),
        } | ({"media": self.media.as_dict()} if self.media else {})


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


def write_report(path, document: dict) -> None:
    """Write `document` as indented JSON to `path`: a private file (mode 0600, as it names
    rows of the database), under a temporary name renamed at the end. Raises OSError."""
    data = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    with atomic_file(Path(path)) as raw:
        raw.write(data.encode("utf-8"))
