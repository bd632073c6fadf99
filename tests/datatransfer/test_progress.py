import io

import pytest
from django.core.management import call_command


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
