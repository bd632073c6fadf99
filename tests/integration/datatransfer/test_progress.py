import contextlib
import fcntl
import io
import os
import pty
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
    assert "rows/s" not in run("loaddomain", node_file, stderr=io.StringIO())
    shown = run("loaddomain", node_file, stderr=Terminal())
    assert "organizations" in shown and " rows" in shown
    assert "[2/16] organizations" in shown
    assert run("dumpdomain", str(tmp_path / "x.json"), stderr=io.StringIO()) == ""
    assert "auditLogs" in run("dumpdomain", str(tmp_path / "y.json"), stderr=Terminal())
    assert run("loaddomain", node_file, "-v", "0", stderr=Terminal()) == ""


@pytest.mark.django_db
def test_the_check_and_the_match_show_a_bar_per_table_before_the_load(node_file):
    shown = run("loaddomain", node_file, "--match", "natural", stderr=Terminal())
    # One pass checks the file and collects its natural keys, then the load.
    assert "check [2/16] organizations" in shown
    assert "load  [2/16] organizations" in shown
    assert shown.index("check [16/16] auditLogs") < shown.index("load  [1/16]")
    # Without the check, the natural-key match has bars of its own.
    shown = run("loaddomain", node_file, "--match", "natural", "--no-verify", stderr=Terminal())
    assert "match [" in shown and "check [" not in shown


@pytest.mark.e2e
def test_a_real_terminal_shows_the_check_and_the_load(make_database, node_file):
    """loaddomain in a process of its own, its standard error a pseudo-terminal."""
    target = make_database("sqlite")
    primary, secondary = pty.openpty()
    # 120 columns: a pseudo-terminal starts with none, and a bar has no room then.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "DATABASE_URL_PROGRESS": database_url(target)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "loaddomain", node_file, "--database", "progress"],
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
    assert "check [1/16] permissions" in text and "load  [16/16] auditLogs" in text
    assert "rows/s" in text
