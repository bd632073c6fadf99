"""Ctrl-C in the commands: one line on stderr and exit status 130 (128 + SIGINT, as a
shell reports it), never a traceback."""

import contextlib
import signal
import threading

from django.core.management import CommandError

EXIT_INTERRUPTED = 130


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
