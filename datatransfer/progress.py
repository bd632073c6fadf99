"""Progress bars for the commands: one tqdm bar per table, only on a terminal.

Each bar says which table of how many it is (`[3/16] users`) and counts rows with a
rate written for people (`41.1k rows/s`). An import's bars also name their phase: the
check of the file (`check`, which collects the natural keys too with `--match natural`),
the natural-key match alone without a check (`match`), then the load (`load`)."""

from tqdm import tqdm


class TableProgress:
    """`on_table(key, total)` for the engines: closes the previous table's bar, opens the
    next, and returns the callback that advances it by a number of rows. The import job
    also gives the `phase`, the table's `number` in it and the phase's number of `tables`.

    Disabled (every call a no-op) unless `enabled`, which the commands set only when
    their output is a terminal and verbosity is at least 1.
    """

    def __init__(self, stream, *, enabled: bool, tables: int | None = None):
        self.stream = stream
        self.enabled = enabled
        self.tables = tables
        self._count = 0
        self._bar = None

    def __call__(self, key: str, total: int | None, *, phase=None, number=None, tables=None):
        self.close()
        self._count += 1
        if not self.enabled:
            return None
        number, tables = number or self._count, tables or self.tables
        position = f"[{number}/{tables}] " if tables else ""
        label = f"{phase:<5} " if phase else ""
        self._bar = tqdm(
            total=total,
            desc=f"{label}{position}{key:<20}",
            unit=" rows",
            unit_scale=True,
            file=self.stream,
            leave=False,
            dynamic_ncols=True,
        )
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
