"""One import at a time per database: a PostgreSQL advisory lock held for the import.
And a limit to how long an import, an export or a comparison waits for the locks of other
sessions (lock_timeout).

SQLite needs none: its own write lock already serialises writers.
"""

import contextlib
import hashlib

from django.conf import settings
from django.db import DatabaseError

from datatransfer.exceptions import Code, DataTransferError, ImportLockedError, LockTimeoutError

LOCK_NAME = "datatransfer.import_domain"
# Advisory locks live in one database's lock space, so a fixed key locks imports into
# this database only. A signed 64-bit integer, as pg_advisory_lock(bigint) takes.
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
DEFAULT_LOCK_TIMEOUT = 30.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out


def lock_timeout_setting() -> float:
    """settings.DATATRANSFER_LOCK_TIMEOUT, in seconds (default 30)."""
    return float(getattr(settings, "DATATRANSFER_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))


def checked_lock_timeout(seconds: float | None) -> float:
    """`seconds`, or the setting when None; DataTransferError for a setting that is not 0
    or more seconds (a command line's value is checked as it is parsed)."""
    if seconds is not None:
        return seconds
    seconds = lock_timeout_setting()
    if not 0 <= seconds < float("inf"):
        raise DataTransferError(
            f"DATATRANSFER_LOCK_TIMEOUT is {seconds}: it must be 0 or more seconds.",
            code=Code.BAD_OPTION,
        )
    return seconds


def limit_lock_waits(connection, seconds: float) -> None:
    """In the current transaction of `connection`, give up any wait for a lock (a table's,
    a row's) after `seconds` (0: no limit) with an error (is_lock_timeout); on PostgreSQL,
    where the import's own advisory lock is taken before, so `--wait` still waits."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # set_config(..., true): SET LOCAL, which takes no query parameter.
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{round(seconds * 1000)}ms"]
        )


def is_lock_timeout(error: BaseException) -> bool:
    """Whether a database error (Django's, or the driver's behind it) is a lock wait that
    ran out of time."""
    while error is not None:
        if getattr(error, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        error = error.__cause__
    return False


class LockWaits:
    """A block whose waits for the locks of other sessions end after `seconds` (0: no
    limit), on PostgreSQL: `limit(connection)` at the start of its transaction, then a wait
    that ran out of time leaves the block as LockTimeoutError, in the words of the import's
    (`Database 'X': another session held a lock that <doing> needed for more than N s:
    <outcome>.`). `doing` says what the block is at, set as it goes."""

    def __init__(self, using: str, seconds: float, outcome: str):
        self.using, self.seconds, self.outcome = using, seconds, outcome
        self.doing = "starting"

    def limit(self, connection) -> None:
        limit_lock_waits(connection, self.seconds)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is not None and is_lock_timeout(error):
            raise LockTimeoutError(
                f"Database '{self.using}': another session held a lock that {self.doing} "
                f"needed for more than {self.seconds:g} s: {self.outcome}."
            ) from None
        return False


@contextlib.contextmanager
def import_lock(connection, *, wait: bool):
    """Hold the import lock of `connection`'s database for the block.

    On PostgreSQL a session-level advisory lock (released at the end of the block, or by
    the server when the session dies); elsewhere nothing. With `wait`, block until the
    lock is free; without, raise ImportLockedError at once when another import holds it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                raise ImportLockedError(
                    f"Another import is running into database '{connection.alias}'; "
                    "wait for it to finish."
                )
    try:
        yield
    finally:
        # A broken connection has lost its session, and the lock with it.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
