"""Where an import's time goes (datatransfer/phases.py): each phase counts its own time, a
phase timed inside another is taken out of it, and the phases add up to the job's time.
A fake clock: nothing here depends on how fast the machine is."""

from types import SimpleNamespace

import pytest

from datatransfer import phases


@pytest.fixture
def clock(monkeypatch):
    """A clock that moves only when told: `clock.tick(seconds)`."""
    now = SimpleNamespace(value=100.0)
    now.tick = lambda seconds: setattr(now, "value", now.value + seconds)
    monkeypatch.setattr(phases.time, "monotonic", lambda: now.value)
    return now


def test_a_phase_inside_another_is_taken_out_of_it_and_the_phases_add_up(clock):
    @phases.phase("write")
    def write():
        clock.tick(2)

    @phases.phase("load")
    def load():
        clock.tick(1)
        write()
        clock.tick(0.5)
        phases.switch("outcomes")
        clock.tick(0.25)

    @phases.timed_job
    def run():
        clock.tick(3)
        load()
        phases.begin("commit")
        clock.tick(4)
        phases.end()
        return SimpleNamespace(duration=10.75)

    report = run()
    assert report.phases == {"other": 3, "load": 1.5, "write": 2, "outcomes": 0.25, "commit": 4}
    assert sum(report.phases.values()) == report.duration


def test_the_time_spent_producing_rows_is_the_parse_phase_not_the_consumers(clock):
    def rows():
        for n in range(3):
            clock.tick(1)  # reading and parsing a row
            yield n

    @phases.phase("stage")
    def stage(timed):
        for _ in timed:
            clock.tick(0.5)  # copying it

    @phases.timed_job
    def run():
        stage(phases.timed_rows("parse", rows()))
        return SimpleNamespace()

    assert run().phases == {"other": 0, "stage": 1.5, "parse": 3}


def test_outside_a_timed_job_nothing_is_timed_and_rows_pass_unchanged(clock):
    @phases.phase("load")
    def load():
        phases.switch("write")
        phases.begin("commit")
        phases.end()
        return "done"

    assert load() == "done"
    assert list(phases.timed_rows("parse", iter([1, 2, 3]))) == [1, 2, 3]


def test_a_failed_job_leaves_no_timing_behind(clock):
    @phases.timed_job
    def run():
        phases.begin("commit")
        raise ValueError("refused")

    with pytest.raises(ValueError):
        run()
    assert phases._current.get() is None
