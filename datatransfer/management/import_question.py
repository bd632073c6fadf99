"""What `loaddomain` shows before it asks to write (management/confirmation.py): the target
database, the file, and the rows per table that the file's manifest lists, which the check
before writing holds the file to."""

import os

from datatransfer.files import human_size
from datatransfer.formats import open_reader
from datatransfer.management.confirmation import ask, must_ask
from datatransfer.management.rendering import database_named, left_out_note, render_table
from datatransfer.media import is_archive
from datatransfer.registry import audit_log_keys

CANCELLED = "Import cancelled: nothing was written."


def _listed_counts(metadata: dict) -> dict | None:
    """{table key: rows} from the manifest (what the check compares the rows with), else
    from the metadata's `tables`; None when the file lists neither (format 1.0)."""
    manifest = metadata.get("manifest")
    listed = manifest.get("tables") if isinstance(manifest, dict) else None
    if isinstance(listed, dict):
        counts = {key: e.get("rows") for key, e in listed.items() if isinstance(e, dict)}
    else:
        counts = metadata.get("tables")
    if not isinstance(counts, dict):
        return None
    return {
        key: rows
        for key, rows in counts.items()
        if isinstance(rows, int) and not isinstance(rows, bool)
    }


def file_counts(path: str) -> dict | None:
    """The rows per table that the export file at `path` lists, read from its head only;
    None for an archive (its export is read once unpacked) or a file that lists none.

    Raises DataTransferError as the import would, for a file that cannot be read."""
    if is_archive(path):
        return None
    with open_reader(path, any_version=True) as reader:
        return _listed_counts(reader.metadata)


def _counts_lines(counts: dict | None, job, archive: bool) -> list[str]:
    if counts is None:
        if archive:
            return ["An archive: the rows of its export are counted once it is unpacked."]
        return ["The file lists no row counts (format 1.0): its tables are counted as it loads."]
    exclude = job.exclude
    kept = {key: rows for key, rows in counts.items() if key not in exclude}
    rows = [[key, f"{number:,}"] for key, number in kept.items()]
    lines = [render_table(["table", "rows"], rows, ["total", f"{sum(kept.values()):,}"])]
    if left := set(counts) & set(exclude):
        lines.append(left_out_note(left, audit_log_keys()))
    if job.prune:
        lines.append(
            "With --prune, the rows of the database within the file's scope that the file "
            "does not hold will be deleted."
        )
    if not job.verify:
        lines.append("With --no-verify, the rows are not checked against these counts.")
    else:
        lines.append(
            "The file is checked against these counts as it loads: if it does not match them, "
            "nothing is written."
        )
    return lines


def confirm_import(command, options, job) -> None:
    """Before a real (not dry) run of loaddomain: unless --no-input, show the target, the
    file and its counts per table (less the tables the ImportOptions `job` excludes, with
    what its prune and its check will do: for an apply, the plan's), then ask
    (confirmation.py). Returns when the import may go on; raises CommandError (exit 2, or
    130 for a Ctrl-C) otherwise, and DataTransferError for a file that cannot be read."""
    if options["dry_run"]:
        return
    target = database_named(options["database"])
    from_stdin = options["file"] == "-"
    if not must_ask(
        options,
        action=f"loaddomain writes into {target}",
        cannot_ask="standard input is the export file" if from_stdin else None,
    ):
        return
    path = options["file"]
    counts = file_counts(path)
    try:
        named = f"{path} ({human_size(os.path.getsize(path))})"
    except OSError:  # an archive that is not there: the import says so, once answered
        named = path
    lines = [
        f"loaddomain will write into {target}",
        f"from {named}" + (", whose rows per table are:" if counts is not None else "."),
        *_counts_lines(counts, job, is_archive(path)),
    ]
    ask(command, lines, cancelled=CANCELLED)
