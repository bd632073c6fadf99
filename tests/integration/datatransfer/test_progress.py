import contextlib
import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from django.core.management import call_command

from tests.subprocesses import ROOT, database_url


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(name, *args, stderr):
    call_command(name, *args, stdout=io.StringIO(), stderr=stderr)
    return stderr.getvalue()


@pytest.mark.django_db
def test_progress_bars_only_on_a_terminal(node_file, tmp_path):
    assert "rows/s" not in run("loaddomain", "--no-input", node_file, stderr=io.StringIO())
    shown = run("loaddomain", "--no-input", node_file, stderr=Terminal())
    assert "organizations" in shown and " rows" in shown
    assert "[2/16] organizations" in shown
    assert run("dumpdomain", str(tmp_path / "x.json"), stderr=io.StringIO()) == ""
    assert "auditLogs" in run("dumpdomain", str(tmp_path / "y.json"), stderr=Terminal())
    assert run("loaddomain", "--no-input", node_file, "-v", "0", stderr=Terminal()) == ""


@pytest.mark.django_db
def test_the_check_and_the_match_show_a_bar_per_table_before_the_load(node_file):
    shown = run("loaddomain", "--no-input", node_file, "--match", "natural", stderr=Terminal())
    # One pass checks the file and collects its natural keys, then the load.
    assert "check [2/16] organizations" in shown
    assert "load  [2/16] organizations" in shown
    assert shown.index("check [16/16] auditLogs") < shown.index("load  [1/16]")
    # Without the check, the natural-key match has bars of its own.
    shown = run(
        "loaddomain",
        "--no-input",
        node_file,
        "--match",
        "natural",
        "--no-verify",
        stderr=Terminal(),
    )
    assert "match [" in shown and "check [" not in shown


@pytest.mark.e2e
def test_a_real_terminal_shows_the_one_read_that_checks_and_loads(make_database, node_file):
    """loaddomain in a process of its own, its standard error a pseudo-terminal: matched by
    id, the file is read once (checked as it loads)."""
    target = make_database("sqlite")
    primary, secondary = pty.openpty()
    # 120 columns: a pseudo-terminal starts with none, and a bar has no room then.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "DATABASE_URL_PROGRESS": database_url(target)}
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "loaddomain",
            "--no-input",
            node_file,
            "--database",
            "progress",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
    )
    os.close(secondary)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the process closed its end
        while chunk := os.read(primary, 4096):
            shown += chunk
    os.close(primary)
    assert process.wait(timeout=120) == 0, shown
    text = shown.decode()
    assert "load  [1/16] permissions" in text and "load  [16/16] auditLogs" in text
    assert "check [" not in text
    assert "rows/s" in text


@pytest.fixture
def export_of_21_rows(node_file, tmp_path):
    """An export whose metadata lists its rows per table (the Node tool's does not)."""
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), stdout=io.StringIO())
    return str(path)


@pytest.mark.django_db
def test_an_overall_line_counts_the_rows_of_the_manifest_with_rate_and_eta(export_of_21_rows):
    """Above the table's bar, `all`: rows done of the file's total (its metadata lists
    21 rows), the rate and the time left, for its one read."""
    shown = run("loaddomain", "--no-input", export_of_21_rows, stderr=Terminal())
    overall = overall_lines(shown)
    assert overall and all("/21.0 [" in line and "rows/s" in line for line in overall)
    assert any(line.startswith("load  all:") for line in overall)
    assert not any(line.startswith("check all:") for line in overall)


def overall_lines(shown: str) -> list[str]:
    return [line for line in shown.replace("\r", "\n").splitlines() if "all:" in line]


@pytest.mark.django_db
def test_the_overall_total_leaves_out_the_excluded_tables(export_of_21_rows, node_file):
    from datatransfer.progress import manifest_rows

    assert manifest_rows(export_of_21_rows) == 21
    assert manifest_rows(export_of_21_rows, exclude={"auditLogs"}) == 19
    assert manifest_rows(node_file) is None  # no counts in its metadata
    assert manifest_rows("/nonexistent/file.json") is None


@pytest.mark.django_db
def test_seeddemo_bars_move_within_a_table(make_database, monkeypatch):
    """The demo's rows are advanced as they are made, not once per table. (Every advance
    is drawn here, whatever the machine's speed: tqdm's own pace is by time.)"""
    import functools

    import datatransfer.progress
    from core.demo import seed_demo

    monkeypatch.setattr(
        datatransfer.progress,
        "tqdm",
        functools.partial(datatransfer.progress.tqdm, mininterval=0, miniters=1),
    )

    steps: dict[str, list[int]] = {}

    def on_table(key, total):
        steps[key] = []
        return steps[key].append

    counts = seed_demo(scale=1, using=make_database("sqlite"), on_table=on_table)
    big = [key for key, count in counts.items() if key in steps and count >= 150]
    assert big
    for key in big:
        assert len(steps[key]) >= 3 and sum(steps[key]) == counts[key], key
    shown = run("seeddemo", "--database", make_database("sqlite"), stderr=Terminal())
    overall = overall_lines(shown)
    assert overall and all("/1.18k [" in line for line in overall)
    # rows done moves, and once there is a rate the time left is shown
    assert len({line.split("|")[0] for line in overall}) >= 3, overall
    assert any(re.search(r"\[\d\d:\d\d<\d\d:\d\d, [\d.]+k? rows/s\]", line) for line in overall)
