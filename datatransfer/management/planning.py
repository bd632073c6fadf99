"""loaddomain's plans (plans.py): `--dry-run --plan-out PLAN` writes one, `--apply PLAN`
applies it. Here the flags are checked against each other and against the plan, and the
lines about the plan are written.

At the apply, the options that change outcomes (--match, -e and --skip-audit,
--ignore-unknown, --no-verify, --overwrite-media, --strict, --prune) are the plan's: one
left out is taken from it; one given with another value than the plan's is refused (exit 2),
rather than silently changing what was planned. The database is --database's, as for any
import: a plan made for another one (compared by where it points) is refused (exit 2).
"""

from dataclasses import replace

from django.core.management.base import CommandError

from datatransfer.checksums import file_digest
from datatransfer.exceptions import EXIT_REFUSED
from datatransfer.files import unwritable_reason
from datatransfer.management.rendering import same_env_file
from datatransfer.plans import PlanChecker, PlanRecorder, check_file, check_target, read_plan
from datatransfer.plans import write_plan as write_plan_file
from datatransfer.routers import domain_database

# (ImportOptions field, how the command line spells it, its value when not given)
PLANNED_FLAGS = (
    ("match", "--match", "id"),
    ("exclude", "-e/--skip-audit", frozenset()),
    ("ignore_unknown", "--ignore-unknown", False),
    ("verify", "--no-verify", True),
    ("overwrite_media", "--overwrite-media", False),
    ("strict", "--strict", False),
    ("prune", "--prune", False),
)


def add_plan_arguments(parser) -> None:
    parser.add_argument(
        "--plan-out",
        metavar="PLAN.json",
        help="With --dry-run: also write the plan (a private file, mode 0600): the file's "
        "SHA-256, the target, every row's outcome and a fingerprint of the target rows read.",
    )
    parser.add_argument(
        "--apply",
        metavar="PLAN.json",
        help="Do exactly what the plan says (FILE may be left out: the plan names it); exit "
        "4, nothing written, when the file or a target row it depends on changed since.",
    )


def _refuse(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_REFUSED)


class Planning:
    """What `--plan-out` or `--apply` asks of one loaddomain run (neither: nothing). Built
    from the parsed options before any work: raises CommandError or PlanError (exit 2)
    for flags that do not go together, a plan that is not one, or another target."""

    def __init__(self, options):
        self.out, self.applied = options.get("plan_out"), options.get("apply")
        self.plan = None
        self.observer = None
        if self.out and self.applied:
            raise _refuse("--plan-out and --apply do not go together: make a plan, then apply it.")
        if self.out and not options["dry_run"]:
            raise _refuse("--plan-out writes the plan of a dry run: add --dry-run.")
        if self.out and (reason := unwritable_reason(self.out)):
            raise _refuse(f"Cannot write the plan {self.out}: {reason}.")
        if self.applied:
            self.plan = read_plan(self.applied)
            check_target(self.plan, options["database"])
        if options["file"] is None and self.plan is None:
            raise _refuse("Give the file to load (- for standard input), or --apply PLAN.")
        if options["file"] is None and self.plan.file_path is None:
            raise _refuse(
                "The plan was made from standard input: give the file after --apply PLAN "
                "(- to read standard input again)."
            )

    def file(self, given: str | None) -> str:
        """The file to load: the one given, else the plan's."""
        return given if given is not None else self.plan.file_path

    def import_options(self, given):
        """The ImportOptions of the run: `given`, or for an apply the plan's options (a
        flag given with another value than the plan's is refused, exit 2)."""
        if self.plan is None:
            return given
        planned = self.plan.import_options(using=given.using)
        for name, flag, default in PLANNED_FLAGS:
            value, wanted = getattr(given, name), self.plan.options[name]
            if name == "exclude":
                wanted = frozenset(wanted)
            if value != default and value != wanted:
                raise _refuse(
                    f"{flag} is not what the plan was made with: leave it out (the plan's "
                    "options apply), or make a new plan."
                )
        # Never strict (plans.Plan.import_options): the checker refuses any row that
        # differs, a newly failed one too.
        return replace(given, **{name: getattr(planned, name) for name, _, _ in PLANNED_FLAGS})

    def observers(self) -> tuple:
        if self.plan is not None:
            self.observer = PlanChecker(self.plan)
        elif self.out:
            self.observer = PlanRecorder()
        return (self.observer,) if self.observer else ()

    def check_file(self, path, name: str) -> None:
        """For an apply, refuse (exit 4) a file that is not the planned one."""
        if self.plan is not None:
            check_file(self.plan, path, name)

    def write_plan(self, report, path, name: str, *, stdin: bool) -> None:
        """For --plan-out, write the plan of the dry run that made `report`."""
        if not self.out:
            return
        size, sha256 = file_digest(path)
        self.plan = self.observer.plan(
            report, name=name, path=None if stdin else path, sha256=sha256, size=size
        )
        try:
            write_plan_file(self.out, self.plan)
        except OSError as error:
            raise _refuse(
                f"Cannot write the plan {self.out}: {error.strerror or error} (the dry run "
                "wrote nothing)."
            ) from None

    def lines(self, report) -> list[str]:
        """What the command says of the plan, after its report."""
        if self.out:
            rows = sum(sum(counts.values()) for counts in self.plan.counts.values())
            read = sum(len(prints) for prints in self.plan.fingerprint.values())
            alias = self.plan.database
            database = "" if alias == domain_database() else f" --database {alias}"
            return [
                f"Plan written to {self.out}: the outcome of {rows:,} rows in "
                f"{len(self.plan.counts)} tables, and the fingerprint of {read:,} target rows.",
                f"Apply it with: python manage.py loaddomain --apply {self.out}{database}"
                f"{same_env_file()}",
            ]
        if self.applied:
            done = "still holds" if report.dry_run else "was applied"
            return [f"The plan {self.applied} {done}: every row's outcome is the one planned."]
        return []
