"""CUID (version 1) identifiers, the primary keys of the existing application.

A CUID is 25 lowercase base-36 characters: `c`, then a millisecond timestamp (8),
a process-wide counter (4), a host/process fingerprint (4) and random bits (8).
"""

import itertools
import os
import secrets
import socket
import threading
import time

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LENGTH = 25
_BLOCK = 36**4

_counter = itertools.count(secrets.randbelow(_BLOCK))
_counter_lock = threading.Lock()


def to_base36(number: int, width: int) -> str:
    """Return the last `width` base-36 digits of a non-negative `number`, zero-padded."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def format_cuid(millis: int, counter: int, fingerprint: int, random_value: int) -> str:
    """Assemble a CUID from its four parts (each is reduced to its field's width)."""
    return (
        "c"
        + to_base36(millis, 8)
        + to_base36(counter, 4)
        + to_base36(fingerprint, 4)
        + to_base36(random_value, 8)
    )


def _host_fingerprint() -> int:
    host = sum(socket.gethostname().encode()) + 36
    return (os.getpid() % 36**2) * 36**2 + host % 36**2


_FINGERPRINT = _host_fingerprint()


def new_cuid() -> str:
    """Return a new CUID: unique within the process, sortable by creation time."""
    with _counter_lock:
        counter = next(_counter)
    return format_cuid(int(time.time() * 1000), counter, _FINGERPRINT, secrets.randbits(41))


def is_cuid(value: object) -> bool:
    """Tell whether `value` is spelled like a CUID."""
    return (
        isinstance(value, str)
        and len(value) == LENGTH
        and value[0] == "c"
        and all(char in ALPHABET for char in value)
    )
