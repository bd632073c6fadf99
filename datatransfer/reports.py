"""Results of an export or an import, as objects that never print (management/rendering.py
writes them as text)."""

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

from datatransfer.exceptions import Code, escaped, one_line
from datatransfer.files import atomic_file


class Note(str):
    """A note of a report: its text, and the Code of what the caller could do about it
    (the command line adds the hint naming the flag)."""

    code = None

    def __new__(cls, text: str, code=None):
        note = super().__new__(cls, text)
        note.code = code
        return note


class Reason(str):
    """Why a row was refused, or written without a link: its text, and as data

    - `cause`: (table key, id) of the root row when the row was refused because a row it
      links to was (the first row refused in the chain: dependants of dependants name the
      same root); None for a root;
    - `code`: `Code.NATURAL_KEY_HELD` for a conflict on the table's natural key, whose
      `holder` (the target row's id) and `key` (the key as shown: `email 'a@b'`) say which
      row matching by natural key would take.

    A plain string is a Reason with none of these.
    """

    cause = None
    code = None
    holder = None
    key = None

    def __new__(cls, text: str, *, cause=None, code=None, holder=None, key=None):
        reason = super().__new__(cls, text)
        reason.cause, reason.code, reason.holder, reason.key = cause, code, holder, key
        return reason


def root_of(table: str, row_id, message) -> tuple[str, str]:
    """The root (table key, id) of a row refused with `message`: its cause's, or its own."""
    return getattr(message, "cause", None) or (table, str(row_id))


class Outcome(enum.StrEnum):
    CREATED = "created"
    APPENDED = "appended"  # an append-only table's row, new to the target: under a new id
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    DELETED = "deleted"  # a target's row in the file's scope that the file lacks (prune)


# The kinds of issue: a row skipped, a row failed, a row written without a link (its own
# outcome, created or updated, stays: the row is in the target, with that link not set).
CONFLICT, ERROR, UNLINKED = "conflict", "error", "unlinked"


@dataclass
class RowIssue:
    """Why a row was skipped (`kind="conflict"`), failed (`kind="error"`), or was written
    without a link it could not set (`kind="unlinked"`); `cause`, the root row (table key,
    id) whose refusal this row follows from (None: the row is its own cause); `code`,
    `holder` and `key`: see Reason."""

    table: str
    id: str
    kind: str
    message: str
    cause: tuple[str, str] | None = None
    code: Code | None = None
    holder: str | None = None
    key: str | None = None

    def as_dict(self) -> dict:
        """The report file's entry: table, id, kind, message as always; `cause` for a row
        that follows from another's refusal; `naturalMatch`, the target's row a match by
        natural key would take, for a conflict on the natural key."""
        entry = {"table": self.table, "id": self.id, "kind": self.kind, "message": self.message}
        if self.cause:
            entry["cause"] = {"table": self.cause[0], "id": self.cause[1]}
        if self.code is Code.NATURAL_KEY_HELD:
            entry["naturalMatch"] = {"table": self.table, "id": self.holder}
        return entry

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

    A row written without a link it could not set keeps its outcome (created, updated) and
    is counted in `unlinked` ({table: rows}) too, with an issue of its own (UNLINKED).

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
    # seconds per phase of the import (phases.py), for the benchmark and the --report file
    phases: dict = field(default_factory=dict, repr=False, compare=False)
    run: str | None = None  # a real import's run id, its undo journal's (journal.py)
    # listen(table, outcome, row_id, was=None), told of each row's outcome as it is recorded
    # (`was`: the outcome it replaces); the undo journal and the plan listen (importer.py)
    listeners: list = field(default_factory=list, repr=False, compare=False)
    unlinked: dict = field(default_factory=dict)  # {table: rows written without a link}
    pruned: bool = False  # the target's rows the file lacks were deleted (counted deleted)

    def add_table(self, key: str) -> None:
        self.tables.setdefault(key, dict.fromkeys(Outcome, 0))

    def record(self, table: str, outcome: Outcome, row_id=None, message: str | None = None) -> None:
        """Count one row's outcome; a skipped or failed row's `message` (a Reason, or a
        plain string) is kept as its issue. The listeners are told."""
        self.add_table(table)
        self.tables[table][outcome] += 1
        if outcome in (Outcome.SKIPPED, Outcome.FAILED):
            kind = CONFLICT if outcome is Outcome.SKIPPED else ERROR
            self._issue(table, row_id, kind, message)
        for listen in self.listeners:
            listen(table, outcome, row_id)

    def heard(self, outcome: Outcome) -> bool:
        """Whether a listener is told each row of `outcome` (one that names the outcomes it
        hears in an `outcomes` attribute hears only those)."""
        return any(outcome in getattr(listen, "outcomes", Outcome) for listen in self.listeners)

    def record_many(self, table: str, outcome: Outcome, count: int) -> None:
        """Count `count` rows of `outcome` at once: for an outcome no listener hears and
        that keeps no issue (never skipped nor failed)."""
        assert not self.heard(outcome) and outcome not in (Outcome.SKIPPED, Outcome.FAILED)
        self.add_table(table)
        self.tables[table][outcome] += count

    def record_unlinked(self, table: str, row_id, message: str) -> None:
        """One row, already recorded as written, whose link could not be set (`message`,
        a Reason or a plain string, says which and why): its outcome stays."""
        self.add_table(table)
        self.unlinked[table] = self.unlinked.get(table, 0) + 1
        self._issue(table, row_id, UNLINKED, message)

    def _issue(self, table, row_id, kind, message) -> None:
        self.issues.append(
            RowIssue(
                table,
                str(row_id),
                kind,
                str(message or ""),
                cause=getattr(message, "cause", None),
                code=getattr(message, "code", None),
                holder=getattr(message, "holder", None),
                key=getattr(message, "key", None),
            )
        )

    @property
    def totals(self) -> dict:
        return {o: sum(counts[o] for counts in self.tables.values()) for o in Outcome}

    @property
    def unlinked_total(self) -> int:
        """How many rows were written without a link they could not set."""
        return sum(self.unlinked.values())

    @property
    def has_failures(self) -> bool:
        return self.totals[Outcome.FAILED] > 0

    @property
    def has_unlinked(self) -> bool:
        """Whether rows were written without a link (they differ from the file)."""
        return self.unlinked_total > 0

    def by_cause(self) -> tuple[list, dict]:
        """(the issues that are their own cause, in order; {root (table, id): the issues
        that follow from it, in order}). An issue whose root is not among the issues (not
        expected) counts as its own cause."""
        roots = {(issue.table, issue.id) for issue in self.issues if issue.cause is None}
        own, following = [], {}
        for issue in self.issues:
            if issue.cause is not None and issue.cause in roots:
                following.setdefault(issue.cause, []).append(issue)
            else:
                own.append(issue)
        return own, following

    @property
    def has_conflicts(self) -> bool:
        """Whether rows were skipped (a unique key held by another row, or a dependency on
        a skipped row)."""
        return self.totals[Outcome.SKIPPED] > 0

    def matched(self, table: str) -> int:
        """How many rows of `table` took a target row's id (--match natural)."""
        return len(self.id_mapping.get(table, ()))

    def as_dict(self) -> dict:
        # deleted: only for an import that pruned (the report stays as it was otherwise)
        shown = [o for o in Outcome if self.pruned or o is not Outcome.DELETED]
        tables = {key: {o.value: counts[o] for o in shown} for key, counts in self.tables.items()}
        totals = {o.value: n for o, n in self.totals.items() if o in shown}
        # Written rows, counted in their outcome too: never add it to the outcomes' sum.
        for key, counts in tables.items():
            counts["unlinked"] = self.unlinked.get(key, 0)
        totals["unlinked"] = self.unlinked_total
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
