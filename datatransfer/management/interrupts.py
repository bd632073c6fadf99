"""Ctrl-C in the commands: one line on stderr and exit status 130 (128 + SIGINT, as a
shell reports it), never a traceback. SIGTERM (an export's): the same, exit status 143
(128 + SIGTERM). A closed pipe: exit status 141 (128 + SIGPIPE), no message."""

import contextlib
import os
import signal
import threading

from django.core.management import CommandError

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM came: a SystemExit, so that what cleans up on a stopped process runs (psycopg
    cancels the running query, transactions roll back, temporary files go, the history
    records the run interrupted), and nothing catching Exception stops it on the way."""


def _interrupt(signum, frame):
    # Once: the Ctrl-Cs that follow are ignored until the command has cleaned up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    # Once: the SIGTERMs that follow are ignored until the command has cleaned up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(EXIT_TERMINATED)


@contextlib.contextmanager
def sigterm(message: str):
    """Turn a SIGTERM in the block into CommandError(`message`, returncode=143), as
    `ctrl_c` turns a Ctrl-C: a process stopped by its supervisor (`kill`, systemd, a
    container's end) cleans up before it goes, rather than dying where it stands. A process
    that handles or ignores SIGTERM already keeps doing so."""
    installed = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    if installed:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except Terminated:
        raise CommandError(message, returncode=EXIT_TERMINATED) from None
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
