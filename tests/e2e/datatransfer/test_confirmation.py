"""Issue 23, ask before writing: the real `manage.py loaddomain` in a pseudo-terminal (the
standard library's `pty`: what a person at a terminal sees) shows the target, the file and
its rows per table, asks, and writes only after `yes`."""

import io
import json
import os
import re
import select
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import connections

from datatransfer.databases import describe
from datatransfer.routers import domain_database
from tests.snapshots import database_snapshot
from tests.subprocesses import ROOT, database_url

pytestmark = pytest.mark.e2e
QUESTION = "Type 'yes' to continue, or 'no' to cancel: "


class PseudoTerminal:
    """`manage.py ARGS` with a pseudo-terminal as its standard input, output and error."""

    def __init__(self, *args, env):
        self.master, replica = os.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        os.close(replica)
        self.screen = ""

    def read_until(self, text: str, timeout: float = 60) -> str:
        """What the terminal showed until `text` (or the end); AssertionError at timeout."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}:\n{self.screen}"
            if not select.select([self.master], [], [], left)[0]:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the process closed the terminal
                chunk = b""
            if not chunk:
                break
            self.screen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 120) -> int:
        self.read_until("\0never\0", timeout)  # until the process closes the terminal
        status = self.process.wait(timeout)
        os.close(self.master)
        return status


@pytest.fixture
def export(make_database, tmp_path, node_file):
    """A format 2.0 export of the Node.js tool's data and an empty target database, both on
    this run's vendor: (file, target alias)."""
    vendor = connections[domain_database()].vendor
    source = make_database(vendor)
    call_command("loaddomain", node_file, database=source, interactive=False, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), database=source, stdout=io.StringIO())
    return str(path), make_database(vendor)


def test_at_a_terminal_loaddomain_shows_what_it_will_write_and_asks(export):
    path, target = export
    env = {"DATABASE_URL_CONFIRM": database_url(target)}
    args = ("loaddomain", path, "--database", "confirm")
    counts = {
        key: entry["rows"]
        for key, entry in json.loads(open(path, encoding="utf-8").read())["metadata"]["manifest"][
            "tables"
        ].items()
    }

    terminal = PseudoTerminal(*args, env=env)
    screen = terminal.read_until(QUESTION)
    where = f"database 'confirm' ({describe(target)})"  # the alias, and where it points
    assert f"loaddomain will write into {where}\n" in screen
    assert f"from {path} (" in screen
    for key, rows in counts.items():
        assert re.search(rf"^{key}\s+{rows:,}$", screen, re.M), (key, screen)
    assert re.search(rf"^total\s+{sum(counts.values()):,}$", screen, re.M)
    terminal.type("no\n")
    assert terminal.finish() == 2
    assert "CommandError: Import cancelled: nothing was written." in terminal.screen
    assert "Traceback" not in terminal.screen
    assert not any(database_snapshot(target).values())

    terminal = PseudoTerminal(*args, env=env)
    terminal.read_until(QUESTION)
    terminal.type("yes\n")
    assert terminal.finish() == 0, terminal.screen
    assert "Loaded " in terminal.screen
    loaded = database_snapshot(target)
    assert sum(len(rows) for rows in loaded.values()) == sum(counts.values())


def test_off_a_terminal_the_real_command_refuses_in_one_line(export):
    path, target = export
    env = {**os.environ, "DATABASE_URL_CONFIRM": database_url(target)}
    argv = [sys.executable, "manage.py", "loaddomain", path, "--database", "confirm"]
    refused = subprocess.run(
        argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert "standard input is not a terminal, so it cannot ask; add --no-input" in line
    assert not any(database_snapshot(target).values())
    loaded = subprocess.run(
        [*argv, "--no-input"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert any(database_snapshot(target).values())
