"""Plans: what a dry run found for every row, kept so that the import it checked is the
one that runs (`loaddomain FILE --dry-run --plan-out PLAN` then `loaddomain --apply PLAN`;
the admin's preview, then its Confirm).

A plan holds the file's SHA-256, the target as `databases.describe` names it (engine
host:port/dbname, never a user nor a password), the options that change outcomes, per
table the ids of the rows of each outcome, and the fingerprint of the target rows it read:
for each file row (by its id, after a natural match), the digest of the target's row of
that id (rowimages.py), or that the target had none (which must still be so); with
`--prune`, the digest of each row the prune would delete.

The apply is the same import with a PlanChecker, which records what a plan would and
compares it at the end, inside the transaction: the bytes read, each target row's digest
(read before the writer sees its chunk) and each row's outcome. Any difference refuses the
whole import (PlanChangedError, exit status 4: rolled back, nothing written), naming the
tables and how many of their rows differ. A target row the file does not name counts
through the outcomes only: a new holder of a unique key turns a planned creation into a
conflict, which differs; a change that alters no outcome does not refuse the apply.
Append-only tables (matched by content, not by id) have no digests: their rows compare by
outcome (a content the target gained or lost turns appended into unchanged, or back).

Only ids and 32-character digests are kept, never row values: a plan of a million rows is
a few tens of megabytes.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from datatransfer.checksums import file_digest
from datatransfer.databases import describe
from datatransfer.exceptions import PlanChangedError, PlanError, escaped
from datatransfer.files import atomic_file
from datatransfer.importer import ImportOptions
from datatransfer.observers import ImportObserver
from datatransfer.reports import Outcome
from datatransfer.rowimages import digest

FORMAT = "datatransfer-plan"
VERSION = 1
# The ImportOptions that change outcomes: a plan keeps them, its apply takes them from it
# (file spelling: camelCase).
OUTCOME_OPTIONS = {
    "match": "match",
    "exclude": "exclude",
    "ignore_unknown": "ignoreUnknown",
    "verify": "verify",
    "overwrite_media": "overwriteMedia",
    "strict": "strict",
    "prune": "prune",
}
# An option a plan of an earlier version may lack, and its value then.
OPTIONAL_OPTIONS = {"prune": False}


@dataclass
class Plan:
    """One plan (see the module's docstring). `rows`: {table: {outcome: [id]}};
    `fingerprint`: {table: {id: digest, or None for a row the target lacked}}; ids are
    strings. `file_path` is absolute, None for standard input."""

    file_name: str
    file_path: str | None
    file_sha256: str
    file_size: int
    database: str
    target: str
    options: dict  # OUTCOME_OPTIONS' fields, `exclude` a sorted list
    counts: dict  # {table: {outcome: count}}: the dry run's report
    rows: dict
    fingerprint: dict
    read_sha256: str | None = None  # of the export read (an archive's own export)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def import_options(self, **others) -> ImportOptions:
        """The ImportOptions of the apply: the plan's options and `others` (using,
        dry_run...). Never strict: the checker refuses any row that differs from the
        plan, a newly failed one too, and names them all."""
        planned = {name: self.options[name] for name in OUTCOME_OPTIONS if name != "strict"}
        planned["exclude"] = frozenset(planned["exclude"])
        return ImportOptions(**planned, **others)

    @property
    def totals(self) -> dict:
        names = [o.value for o in Outcome] + ["unlinked"]
        pruned = any(Outcome.DELETED.value in c for c in self.counts.values())
        names = [n for n in names if pruned or n != Outcome.DELETED.value]
        return {name: sum(c.get(name, 0) for c in self.counts.values()) for name in names}

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "createdAt": self.created_at,
            "file": {
                "name": self.file_name,
                "path": self.file_path,
                "sha256": self.file_sha256,
                "size": self.file_size,
                "readSha256": self.read_sha256,
            },
            "target": {"database": self.database, "describedAs": self.target},
            "options": {OUTCOME_OPTIONS[name]: value for name, value in self.options.items()},
            "totals": self.totals,
            "tables": {
                key: {
                    "counts": counts,
                    "rows": self.rows.get(key, {}),
                    "target": self.fingerprint.get(key, {}),
                }
                for key, counts in self.counts.items()
            },
        }

    @classmethod
    def from_dict(cls, document: dict) -> "Plan":
        """The plan of a plan's document (KeyError, TypeError, ValueError when broken)."""
        file, target, tables = document["file"], document["target"], document["tables"]
        given = OPTIONAL_OPTIONS | document["options"]  # a plan of before --prune: not pruning
        options = {name: given[key] for name, key in OUTCOME_OPTIONS.items()}
        plan = cls(
            file_name=_typed(file["name"], str),
            file_path=_typed(file["path"], str, None),
            file_sha256=_typed(file["sha256"], str),
            file_size=_typed(file["size"], int),
            read_sha256=_typed(file.get("readSha256"), str, None),
            database=_typed(target["database"], str),
            target=_typed(target["describedAs"], str),
            options=options,
            counts={key: _typed(table["counts"], dict) for key, table in tables.items()},
            rows={key: _rows(table["rows"]) for key, table in tables.items()},
            fingerprint={key: _typed(table["target"], dict) for key, table in tables.items()},
            created_at=_typed(document.get("createdAt", ""), str),
        )
        if options["match"] not in ("id", "natural") or not isinstance(options["exclude"], list):
            raise ValueError("options")
        return plan


def _typed(value, *types):
    if not any(value is None if kind is None else isinstance(value, kind) for kind in types):
        raise TypeError(value)
    return value


def _rows(rows: dict) -> dict:
    for outcome, ids in _typed(rows, dict).items():
        Outcome(outcome)
        if not all(isinstance(row_id, str) for row_id in _typed(ids, list)):
            raise TypeError(ids)
    return rows


def write_plan(path, plan: Plan) -> None:
    """Write `plan` as JSON to `path`: a private file (mode 0600: it names rows of the
    database), under a temporary name renamed at the end. Raises OSError."""
    with atomic_file(Path(path)) as raw:
        raw.write(orjson.dumps(plan.as_dict()) + b"\n")


def read_plan(path) -> Plan:
    """The plan written at `path`. Raises PlanError, in one line, for a file that cannot
    be read, is not a plan, or is a broken one."""
    shown = escaped(path, 200)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PlanError(f"Cannot read the plan {shown}: {error.strerror or error}.") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PlanError(f"{shown} is not a plan (not a JSON document of format {FORMAT}).")
    if document.get("version") != VERSION:
        version = escaped(document.get("version"))
        raise PlanError(f"{shown} is a plan of version {version}, which this tool does not read.")
    try:
        return Plan.from_dict(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PlanError(f"{shown} is a broken plan: a part of it is missing or wrong.") from None


def check_target(plan: Plan, alias: str) -> None:
    """Refuse (PlanError) a plan made for another database than the one `alias` names now:
    compared by where it points (engine host:port/dbname), not by its alias."""
    try:
        here = describe(alias)
    except KeyError:
        here = "not configured"
    if here != plan.target:
        raise PlanError(
            f"The plan was made for {plan.target}, not for database '{alias}' ({here}); "
            "nothing was written."
        )


def check_file(plan: Plan, path, name: str) -> None:
    """Refuse (PlanChangedError) the file at `path` (called `name`) when its SHA-256 is not
    the plan's, before anything is read of it."""
    try:
        sha256 = file_digest(path)[1]
    except OSError as error:
        raise PlanError(f"Cannot read {name}: {error.strerror or error}.") from None
    if sha256 != plan.file_sha256:
        raise file_changed(name)


def file_changed(name: str) -> PlanChangedError:
    return PlanChangedError(
        f"{name} changed since the plan (its SHA-256 is not the planned one); nothing was written."
    )


class PlanRecorder(ImportObserver):
    """Records a plan of an import (a dry run): each row's outcome (its id only), and the
    digest of each target row the file names, read before the writer sees it."""

    def __init__(self):
        self.job = None
        self.outcomes = {}  # {table: {Outcome: [id]}}, in the order recorded
        self.changed = []  # (table, id, the outcome it had before)
        self.fingerprint = {}

    def started(self, job, report) -> None:
        self.job = job
        report.listeners.append(self.listen)

    def listen(self, table: str, outcome, row_id, was=None) -> None:
        key = str(row_id)
        self.outcomes.setdefault(table, {}).setdefault(Outcome(outcome), []).append(key)
        if was is not None:
            self.changed.append((table, key, Outcome(was)))

    def images_before(self, table, ids, images) -> None:
        """The digest of each target row the file names (None: the target lacks it)."""
        prints = self.fingerprint.setdefault(table.key, {})
        if table.write_policy.matched_by_content:
            return  # matched by content: compared by outcome
        for pk in ids:
            prints.setdefault(str(pk), digest(images[pk]) if pk in images else None)

    def rows_deleting(self, table, ids, images) -> None:
        """The digest of each row the prune is about to delete: one changed since the
        plan refuses the apply."""
        prints = self.fingerprint.setdefault(table.key, {})
        for pk in ids:
            prints[str(pk)] = digest(images[pk]) if pk in images else None

    def rows(self) -> dict:
        """{table: {outcome: [id]}}: each row under its last outcome."""
        gone = Counter(self.changed)
        rows = {}
        for table, by_outcome in self.outcomes.items():
            rows[table] = {}
            for outcome, ids in by_outcome.items():
                if any(key[0] == table and key[2] is outcome for key in gone):
                    ids = _without(ids, table, outcome, gone)
                if ids:
                    rows[table][outcome.value] = ids
        return rows

    def plan(self, report, *, name: str, path, sha256: str, size: int) -> Plan:
        """The plan of the recorded import, whose report is `report`, of the file `name`
        at `path` (None: standard input), of SHA-256 `sha256` and `size` bytes."""
        options = self.job.options
        chosen = {option: getattr(options, option) for option in OUTCOME_OPTIONS}
        chosen["exclude"] = sorted(chosen["exclude"])
        return Plan(
            file_name=name,
            file_path=str(Path(path).resolve()) if path else None,
            file_sha256=sha256,
            file_size=size,
            read_sha256=self.job.source.sha256 if self.job.source else None,
            database=options.using,
            target=describe(options.using),
            options=chosen,
            counts=planned_counts(report),
            rows=self.rows(),
            fingerprint=self.fingerprint,
        )


def planned_counts(report) -> dict:
    """{table: {outcome: rows, "unlinked": rows}}: the report's counts, as its file has them."""
    return {
        key: {o.value: n for o, n in counts.items() if report.pruned or o is not Outcome.DELETED}
        | {"unlinked": report.unlinked.get(key, 0)}
        for key, counts in report.tables.items()
    }


def _without(ids: list, table: str, outcome, gone: Counter) -> list:
    kept = []
    for key in ids:
        if gone[(table, key, outcome)]:
            gone[(table, key, outcome)] -= 1
        else:
            kept.append(key)
    return kept


class PlanChecker(PlanRecorder):
    """Applies `plan`: records the import as a plan would, and refuses it before its
    commit (PlanChangedError: everything rolls back) when the bytes read, a target row's
    digest or a row's outcome differ from the plan's."""

    def __init__(self, plan: Plan):
        super().__init__()
        self.expected = plan

    def before_commit(self, report) -> None:
        plan = self.expected
        source = self.job.source
        if plan.read_sha256 and source is not None and source.sha256 != plan.read_sha256:
            raise file_changed(plan.file_name)
        differing = differences(plan, self.rows(), self.fingerprint)
        for table, counts in planned_counts(report).items():  # rows written without a link
            if counts.get("unlinked", 0) != plan.counts.get(table, {}).get("unlinked", 0):
                differing[table] = differing.get(table, 0) + abs(
                    counts.get("unlinked", 0) - plan.counts.get(table, {}).get("unlinked", 0)
                )
        if differing:
            raise PlanChangedError(changed_message(differing))


def differences(plan: Plan, rows: dict, fingerprint: dict) -> dict:
    """{table: number of rows that differ} between `plan` and an import's `rows` and
    `fingerprint` (a row differs by its outcome, or by its target row's digest)."""
    tables = list(dict.fromkeys([*plan.counts, *plan.rows, *rows, *fingerprint]))
    counts = {}
    for table in tables:
        expected, actual = _by_id(plan.rows.get(table, {})), _by_id(rows.get(table, {}))
        ids = {i for i in expected.keys() | actual.keys() if expected.get(i) != actual.get(i)}
        before, now = plan.fingerprint.get(table, {}), fingerprint.get(table, {})
        ids |= {i for i in before.keys() | now.keys() if before.get(i, ...) != now.get(i, ...)}
        if ids:
            counts[table] = len(ids)
    return counts


def _by_id(rows: dict) -> dict:
    """{id: sorted outcomes} of {outcome: [id]} (an id recorded twice keeps both)."""
    by_id = {}
    for outcome, ids in rows.items():
        for row_id in ids:
            by_id.setdefault(row_id, []).append(str(outcome))
    return {row_id: sorted(outcomes) for row_id, outcomes in by_id.items()}


def changed_message(counts: dict) -> str:
    """`The target changed since the plan: users 1 row, documents 3 rows differ; ...`."""
    parts = ", ".join(f"{table} {n:,} row{'' if n == 1 else 's'}" for table, n in counts.items())
    return f"The target changed since the plan: {parts} differ; nothing was written."
