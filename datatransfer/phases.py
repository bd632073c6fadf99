"""Where an import's time goes: seconds per phase (time.monotonic), for the benchmark's
phase table and the --report file. Each phase counts its own time only (a phase timed
inside another is taken out of it), so the phases add up to the job's duration."""

import contextvars
import functools
import time

_current = contextvars.ContextVar("datatransfer_phase_times", default=None)
OTHER = "other"  # the job's time in no named phase: the file opened, the lock, the report


class PhaseTimes:
    """Seconds per phase name, in the order the phases were first timed."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._running: list[list] = []  # [name, started], innermost last

    def begin(self, name: str) -> None:
        """From now on the time is `name`'s, until `end()` (the running phase pauses)."""
        now = time.monotonic()
        if self._running:
            self._charge(self._running[-1], now)
        self._running.append([name, now])

    def end(self) -> None:
        """The innermost phase ends; the one around it, if any, runs again."""
        now = time.monotonic()
        self._charge(self._running.pop(), now)
        if self._running:
            self._running[-1][1] = now

    def add_inside(self, name: str, seconds: float) -> None:
        """`seconds` spent in `name` while the innermost phase ran: taken out of it."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if self._running:
            self._running[-1][1] += seconds

    def _charge(self, frame: list, now: float) -> None:
        name, started = frame
        self.seconds[name] = self.seconds.get(name, 0.0) + (now - started)
        frame[1] = now

    def as_dict(self) -> dict[str, float]:
        """{phase: seconds}, rounded to the millisecond's tenth."""
        return {name: round(value, 4) for name, value in self.seconds.items()}


def timed_job(run):
    """Decorate a job's `run`: its phases are timed (`phase`, `begin`/`end`, `timed_rows`
    anywhere below it) and the report it returns gets them as `phases`, {name: seconds}."""

    @functools.wraps(run)
    def timed_run(*args, **kwargs):
        times = PhaseTimes()
        token = _current.set(times)
        times.begin(OTHER)
        try:
            report = run(*args, **kwargs)
        finally:
            _current.reset(token)
        times.end()
        report.phases = times.as_dict()
        return report

    return timed_run


def phase(name: str):
    """Decorate a function: its time is phase `name`'s (outside a timed job: nothing)."""

    def decorate(function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            times = _current.get()
            if times is None:
                return function(*args, **kwargs)
            times.begin(name)
            try:
                return function(*args, **kwargs)
            finally:
                times.end()

        return timed

    return decorate


def begin(name: str) -> None:
    """Phase `name` begins (inside a timed job), until `end()`."""
    times = _current.get()
    if times is not None:
        times.begin(name)


def end() -> None:
    """The phase begun last ends (inside a timed job)."""
    times = _current.get()
    if times is not None:
        times.end()


def switch(name: str) -> None:
    """The running phase ends and `name` takes its place (until that phase would end)."""
    times = _current.get()
    if times is not None:
        times.end()
        times.begin(name)


def timed_rows(name: str, rows):
    """`rows`, the time spent producing each (reading, parsing, checking it) counted as
    phase `name` and taken out of the phase that asked for it."""
    times = _current.get()
    if times is None:
        yield from rows
        return
    clock, rows = time.monotonic, iter(rows)
    while True:
        started = clock()
        try:
            row = next(rows)
        except StopIteration:
            times.add_inside(name, clock() - started)
            return
        times.add_inside(name, clock() - started)
        yield row
