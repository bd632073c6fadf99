"""Asking before a command writes, as Django's `flush` does: `--no-input` (or
`call_command(..., interactive=False)`) skips the question.

A command that writes adds the option with `add_no_input_argument(parser)`, then, before it
opens any transaction (nothing is locked while the question waits), calls
`confirm(self, options, lines, action=...)`:

- `interactive` false (`--no-input`): returns at once;
- standard input is not a terminal (a script, a pipe, cron), or the command reads its data
  from it (`cannot_ask`): raises CommandError, one line, exit status 2 (EXIT_REFUSED:
  nothing was written), saying to add --no-input;
- else: writes `lines` and the question to stderr (stdout may be a redirected report; the
  person answering sees stderr) and reads one line. `yes` returns; anything else, or the
  end of input (Ctrl-D), raises CommandError `cancelled`, exit status 2; a Ctrl-C raises
  it too, with exit status 130, as every Ctrl-C of the commands.

`must_ask` and `ask` are the two halves, for a command that has something to read (a
file's counts) only when it will ask.
"""

import sys

from django.core.management.base import CommandError

from datatransfer.exceptions import EXIT_REFUSED
from datatransfer.management.interrupts import EXIT_INTERRUPTED

QUESTION = "Type 'yes' to continue, or 'no' to cancel: "
NO_INPUT = "--no-input"
EXIT_CANCELLED = EXIT_REFUSED  # a question not answered yes: nothing was written


def add_no_input_argument(parser) -> None:
    """`--noinput`/`--no-input` (Django's spellings), stored as `interactive` (True unless
    given), as `flush` and `migrate` do: `call_command(..., interactive=False)` works."""
    parser.add_argument(
        "--noinput",
        "--no-input",
        action="store_false",
        dest="interactive",
        help="Do not ask for confirmation before writing. Without it, the command shows what "
        "it will write and asks when standard input is a terminal, and refuses (exit 2, "
        "nothing written) when it is not.",
    )


def _stdin_is_terminal() -> bool:
    try:
        return bool(sys.stdin and sys.stdin.isatty())
    except (AttributeError, ValueError):  # no stdin, or a closed one
        return False


def must_ask(options, *, action: str, cannot_ask: str | None = None) -> bool:
    """True when the command must ask before writing (interactive, standard input a
    terminal); False with --no-input. `action` says what the command is about to do
    (`loaddomain writes into database 'prod' (postgresql host:5432/db)`); `cannot_ask`, a
    reason standard input cannot answer that only the command knows (`standard input is
    the export file`).

    Raises CommandError (one line, exit status 2, nothing written) when it must ask and
    cannot."""
    if not options.get("interactive", True):
        return False
    reason = cannot_ask or (None if _stdin_is_terminal() else "standard input is not a terminal")
    if reason:
        raise CommandError(
            f"{action}: {reason}, so it cannot ask; add {NO_INPUT} to write without asking. "
            "Nothing was written.",
            returncode=EXIT_REFUSED,
        )
    return True


def _plain(text: str) -> str:
    return text


def ask(command, lines, *, question: str = QUESTION, cancelled: str) -> None:
    """Write `lines` and `question` to the command's stderr, then read one line of standard
    input. Returns when it is `yes`; raises CommandError(`cancelled`) otherwise: exit status
    2 for another answer or the end of input, 130 for a Ctrl-C."""
    for line in lines:
        command.stderr.write(line, style_func=_plain)
    command.stderr.write(question, style_func=_plain, ending="")
    command.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        command.stderr.write("")  # the message on its own line, not after the question
        raise CommandError(cancelled, returncode=EXIT_INTERRUPTED) from None
    if not answer:  # the end of input (Ctrl-D)
        command.stderr.write("")
    if answer.strip().lower() != "yes":
        raise CommandError(cancelled, returncode=EXIT_CANCELLED)


def confirm(
    command,
    options,
    lines,
    *,
    action: str,
    cancelled: str,
    question: str = QUESTION,
    cannot_ask: str | None = None,
) -> None:
    """`must_ask`, then `ask`: returns when the command may write (--no-input, or the answer
    `yes`); raises CommandError otherwise (see the module's docstring for the statuses)."""
    if must_ask(options, action=action, cannot_ask=cannot_ask):
        ask(command, lines, question=question, cancelled=cancelled)
