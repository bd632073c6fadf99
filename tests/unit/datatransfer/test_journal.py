"""Run ids are short and typeable, the summary's last line says how to undo, and a run id
that is not one never names a file."""

import datetime as dt

import pytest

from datatransfer.exceptions import DataTransferError
from datatransfer.journal import new_run_id
from datatransfer.management.rendering import undo_line
from datatransfer.revert import RUN_ID, read_header


def test_a_run_id_is_the_time_and_four_hex_digits():
    run = new_run_id(dt.datetime(2026, 12, 7, 18, 15, tzinfo=dt.UTC))
    assert run.startswith("20261207-181500-") and RUN_ID.fullmatch(run)
    assert len({new_run_id() for _ in range(50)}) > 1


def test_the_summary_ends_with_the_command_that_undoes_the_import():
    assert undo_line("20261207-181500-3f9a") == (
        "Run 20261207-181500-3f9a: to undo it, python manage.py revertimport 20261207-181500-3f9a"
    )


@pytest.mark.parametrize("run", ["../../etc/passwd", "20261207-181500", "", "x" * 200])
def test_what_is_not_a_run_id_is_refused_in_one_line(run):
    with pytest.raises(DataTransferError, match="is not a run id") as raised:
        read_header(run)
    assert "\n" not in str(raised.value)
