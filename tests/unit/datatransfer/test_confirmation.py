"""management/confirmation.py (issue 23, ask before writing): --no-input, Django's
spelling; the refusal off a terminal; the question and its answers."""

import argparse
import io

import pytest
from django.core.management.base import BaseCommand, CommandError

from datatransfer.management import confirmation
from datatransfer.management.confirmation import (
    QUESTION,
    add_no_input_argument,
    confirm,
    must_ask,
)

ACTION = "loaddomain writes into database 'prod' (postgresql db:5432/prod)"


class Terminal(io.StringIO):
    """Standard input as a terminal where the person types `typed`."""

    def isatty(self):
        return True


class Interrupted(Terminal):
    def readline(self, *args):
        raise KeyboardInterrupt


def command():
    return BaseCommand(stdout=io.StringIO(), stderr=io.StringIO())


def ask(monkeypatch, stdin, **options):
    monkeypatch.setattr("sys.stdin", stdin)
    done = command()
    confirm(
        done,
        {"interactive": True, **options},
        ["the target", "the file"],
        action=ACTION,
        cancelled="Import cancelled: nothing was written.",
    )
    return done


def test_no_input_is_djangos_spelling_stored_as_interactive():
    parser = argparse.ArgumentParser()
    add_no_input_argument(parser)
    assert parser.parse_args([]).interactive is True
    assert parser.parse_args(["--no-input"]).interactive is False
    assert parser.parse_args(["--noinput"]).interactive is False


def test_with_no_input_nothing_is_asked_even_off_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    done = command()
    confirm(done, {"interactive": False}, ["the target"], action=ACTION, cancelled="no")
    assert done.stderr.getvalue() == ""


@pytest.mark.parametrize("stdin", [io.StringIO("yes\n"), None], ids=["a pipe", "none"])
def test_off_a_terminal_it_refuses_in_one_line_with_status_2(monkeypatch, stdin):
    monkeypatch.setattr("sys.stdin", stdin)
    with pytest.raises(CommandError) as refused:
        must_ask({"interactive": True}, action=ACTION)
    message = str(refused.value)
    assert refused.value.returncode == 2
    assert "\n" not in message
    assert message.startswith(ACTION + ": standard input is not a terminal")
    assert "--no-input" in message
    assert message.endswith("Nothing was written.")


def test_a_reason_the_command_knows_refuses_even_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    with pytest.raises(CommandError) as refused:
        must_ask({"interactive": True}, action=ACTION, cannot_ask="standard input is the file")
    assert refused.value.returncode == 2
    assert "standard input is the file, so it cannot ask" in str(refused.value)


def test_on_a_terminal_yes_goes_on_after_showing_the_lines_and_the_question(monkeypatch):
    done = ask(monkeypatch, Terminal("yes\n"))
    assert done.stderr.getvalue() == f"the target\nthe file\n{QUESTION}"
    assert QUESTION == "Type 'yes' to continue, or 'no' to cancel: "
    assert done.stdout.getvalue() == ""  # stdout may be a report redirected to a file


@pytest.mark.parametrize("typed", ["no\n", "y\n", "\n", "yes please\n"])
def test_any_other_answer_cancels_with_status_2(monkeypatch, typed):
    with pytest.raises(CommandError) as cancelled:
        ask(monkeypatch, Terminal(typed))
    assert str(cancelled.value) == "Import cancelled: nothing was written."
    assert cancelled.value.returncode == confirmation.EXIT_CANCELLED == 2


def test_the_end_of_input_cancels(monkeypatch):
    with pytest.raises(CommandError) as cancelled:
        ask(monkeypatch, Terminal(""))  # Ctrl-D
    assert cancelled.value.returncode == 2


def test_ctrl_c_at_the_question_cancels_with_status_130_and_no_traceback(monkeypatch):
    with pytest.raises(CommandError) as cancelled:
        ask(monkeypatch, Interrupted())
    assert str(cancelled.value) == "Import cancelled: nothing was written."
    assert cancelled.value.returncode == 130


def test_a_next_command_shown_reads_the_same_env_file(monkeypatch, tmp_path):
    """A hint such as "Apply it with: ..." after `--env-file .env.production` names that
    file: run as shown, the next command must target the same database."""
    from datatransfer.management.rendering import same_env_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.production").write_text("")
    monkeypatch.setenv("ENV_FILE", str(tmp_path / ".env.production"))
    assert same_env_file() == " --env-file .env.production"
    monkeypatch.setenv("ENV_FILE", "/dev/null")
    assert same_env_file() == ""
    monkeypatch.delenv("ENV_FILE")
    assert same_env_file() == ""
