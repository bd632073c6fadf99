"""One import at a time per database: a PostgreSQL advisory lock held for the import.

SQLite needs none: its own write lock already serialises writers.
"""

import contextlib
import hashlib

from django.db import DatabaseError

from datatransfer.exceptions import ImportLockedError

LOCK_NAME = "datatransfer.import_domain"
# Advisory locks live in one database's lock space, so a fixed key locks imports into
# this database only. A signed 64-bit integer, as pg_advisory_lock(bigint) takes.
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)


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
                    "wait for it to finish, or use --wait to queue behind it."
                )
    try:
        yield
    finally:
        # A broken connection has lost its session, and the lock with it.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
