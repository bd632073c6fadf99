"""Progress bars for the commands: an overall line and one tqdm bar per table, only on a
terminal.

The overall line (`all`) counts the rows of the whole pass, of the total the command
knows beforehand (an import: its file's metadata, `manifest_rows`; the demo: its plan),
with the rate and the time left; without a total it still counts rows and their rate.
An import goes over its file more than once: the line starts again for each pass.

Each table's bar says which table of how many it is (`[3/16] users`) and counts rows with
a rate written for people (`41.1k rows/s`). An import's bars also name their phase: the
check of the file (`check`, which collects the natural keys too with `--match natural`),
the natural-key match alone without a check (`match`), then the load (`load`)."""

from tqdm import tqdm

from datatransfer.exceptions import DataTransferError
from datatransfer.formats import open_reader

OVERALL = "all"


class TableProgress:
    """`on_table(key, total)` for the engines: closes the previous table's bar, opens the
    next, and returns the callback that advances it (and the overall line) by a number of
    rows. The import job also gives the `phase`, the table's `number` in it and the phase's
    number of `tables`. `rows`: the rows of one pass, for the overall line (None: unknown).

    Disabled (every call a no-op) unless `enabled`, which the commands set only when
    their output is a terminal and verbosity is at least 1.
    """

    def __init__(self, stream, *, enabled: bool, tables: int | None = None, rows=None):
        self.stream = stream
        self.enabled = enabled
        self.tables = tables
        self.rows = rows
        self._count = 0
        self._bar = None
        self._overall = None
        self._phase = None

    def __call__(self, key: str, total: int | None, *, phase=None, number=None, tables=None):
        self._close_table()
        self._count += 1
        if not self.enabled:
            return None
        if self._overall is None or phase != self._phase:
            self._start_pass(phase)
        number, tables = number or self._count, tables or self.tables
        position = f"[{number}/{tables}] " if tables else ""
        self._bar = self._open(f"{self._label(phase)}{position}{key:<20}", total, position=1)
        bar, overall = self._bar, self._overall

        def advance(rows: int) -> None:
            bar.update(rows)
            overall.update(rows)

        return advance

    @staticmethod
    def _label(phase) -> str:
        return f"{phase:<5} " if phase else ""

    def _open(self, description: str, total, *, position: int):
        return tqdm(
            total=total,
            desc=description,
            unit=" rows",
            unit_scale=True,
            file=self.stream,
            leave=False,
            dynamic_ncols=True,
            position=position,
        )

    def _start_pass(self, phase) -> None:
        """The overall line of a new pass over the rows (the first, or a new phase)."""
        self._close_overall()
        self._phase = phase
        self._overall = self._open(f"{self._label(phase)}{OVERALL}", self.rows, position=0)

    def _close_table(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _close_overall(self) -> None:
        if self._overall is not None:
            self._overall.close()
            self._overall = None

    def close(self) -> None:
        self._close_table()
        self._close_overall()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def manifest_rows(path, exclude=()) -> int | None:
    """The rows the metadata of the export file at `path` lists, but those of the tables
    `exclude` leaves out: read from the file's head only. None when it lists none or cannot
    be read (the import itself then says why)."""
    try:
        with open_reader(str(path), any_version=True) as reader:
            listed = reader.metadata.get("tables")
    except (DataTransferError, OSError, ValueError):
        return None
    if not isinstance(listed, dict):
        return None
    counts = [
        count
        for key, count in listed.items()
        if key not in exclude and isinstance(count, int) and not isinstance(count, bool)
    ]
    return sum(counts) if counts else None


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
