"""Ctrl-C in the commands: one line on stderr and exit status 130 (128 + SIGINT, as a
shell reports it), never a traceback. SIGTERM, and the SIGHUP of a terminal closed (an SSH
session dropped): the same, exit status 143 (128 + SIGTERM) or 129 (128 + SIGHUP). A
closed pipe: exit status 141 (128 + SIGPIPE), no message."""

import contextlib
import os
import signal
import threading

from django.core.management import CommandError

from datatransfer.exceptions import Terminated

EXIT_INTERRUPTED = 130
# The signals that stop a process as SIGTERM does, and clean up as a Ctrl-C does.
STOPPING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _ignore(signum, frame):
    """A signal that came while the command cleans up after another: nothing to do. A
    handler, not SIG_IGN: a signal already pending when its handler became SIG_IGN prints a
    traceback ("Signal 15 ignored due to race condition")."""


def _calm(handler) -> None:
    """The signals whose handler is `handler` are ignored from now on."""
    for signum in (signal.SIGINT, *STOPPING_SIGNALS):
        if signal.getsignal(signum) is handler:
            signal.signal(signum, _ignore)


def _interrupt(signum, frame):
    # Once: the Ctrl-Cs and stops that follow are ignored until the command has cleaned up.
    _calm(_interrupt)
    _calm(_terminate)
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c(message: str):
    """Turn a Ctrl-C in the block into CommandError(`message`, returncode=130).

    The first Ctrl-C interrupts the block as usual (KeyboardInterrupt: psycopg cancels the
    running query, transactions roll back, temporary files go); further ones are ignored
    until the block has ended, so that this cleanup runs to its end. A process that ignores
    SIGINT (started in the background) keeps ignoring it.
    """
    previous = None
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    except KeyboardInterrupt:
        raise CommandError(message, returncode=EXIT_INTERRUPTED) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _terminate(signum, frame):
    # Once: the stops and Ctrl-Cs that follow are ignored until the command has cleaned up.
    _calm(_terminate)
    _calm(_interrupt)
    raise Terminated(128 + signum)


@contextlib.contextmanager
def sigterm(message: str):
    """Turn a SIGTERM or a SIGHUP in the block into CommandError(`message`, returncode=143 or
    129), as `ctrl_c` turns a Ctrl-C: a process stopped by its supervisor (`kill`, systemd,
    a container's end) or whose terminal closed cleans up before it goes (its spool, its
    `.part` file, its record), rather than dying where it stands and leaving them to the
    next start's sweep. `{signal}` in `message` becomes the signal's name. A process that
    handles or ignores one of them already keeps doing so."""
    installed = []
    if threading.current_thread() is threading.main_thread():
        installed = [s for s in STOPPING_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]
    for stopping in installed:
        signal.signal(stopping, _terminate)
    try:
        yield
    except Terminated as stopped:
        name = signal.Signals(stopped.code - 128).name
        raise CommandError(message.format(signal=name), returncode=stopped.code) from None
    finally:
        for stopping in installed:
            signal.signal(stopping, signal.SIG_DFL)


def leave_closed_pipe(stream, status: int):
    """End the command with `status` and no message once the reader of `stream` (stdout)
    has gone (`dumpdomain - | head`), as a Unix filter does.

    What is still buffered for the closed pipe would fail again when Python flushes
    stdout on exit ("Exception ignored ... BrokenPipeError"): stdout is first pointed at
    /dev/null."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    raise SystemExit(status)
