"""The bytes the streaming JSON parser (ijson's C backend, over yajl) reads, checked and
sized on their way in, so that neither the size nor the shape of one value can crash it
or make it slow (issue 20):

- A number of more digits than Python's int() takes (`sys.get_int_max_str_digits()`)
  crashes the C backend (a segfault: its error is lost). Numbers of more than
  MAX_INTEGER_DIGITS digits, which no database column holds, are refused before the
  parser sees them; `allow_long_integers` lets int() take every shorter one.
- yajl lexes a token cut by the end of its buffer again from its start with every new
  buffer: a value of n bytes read 4 KB at a time costs n^2 / 4 KB (28 s for 16 MiB).
  While the parser makes no event (it is inside one long token), each read is twice as
  long as the last, so a value costs a few passes over its bytes. The reads drop back to
  4 KB at the next event, which keeps what a deeply nested file costs per read small.
- One value (or stretch without any event) longer than `max_value_bytes()`
  (settings.DATATRANSFER_MAX_VALUE_BYTES) is refused once more than that many of its bytes
  are read (the reads stop at the limit, wherever the value would end): a gzip of a few
  megabytes holding gigabytes of one string ends there, not hours later. A value of the
  limit itself is read, whatever follows it.
"""

import sys

from django.conf import settings

from datatransfer.exceptions import FileFormatError
from datatransfer.files import human_size
from datatransfer.formats.json.codec import MAX_INTEGER_DIGITS

# One value's most bytes in the file, when settings.DATATRANSFER_MAX_VALUE_BYTES is not set.
DEFAULT_MAX_VALUE_BYTES = 64 << 20

_DIGITS = bytes.maketrans(b"123456789", b"000000000")


def max_value_bytes() -> int:
    """settings.DATATRANSFER_MAX_VALUE_BYTES: the most bytes one value of a file may take."""
    return int(getattr(settings, "DATATRANSFER_MAX_VALUE_BYTES", DEFAULT_MAX_VALUE_BYTES))


def allow_long_integers() -> None:
    """Let int() and str() take integers of MAX_INTEGER_DIGITS digits (Python's default
    limit is 4,300): a JSON column's integer is then read, written and compared exactly,
    whatever its size. Called once when the application starts."""
    current = sys.get_int_max_str_digits()
    if current and current < MAX_INTEGER_DIGITS:
        sys.set_int_max_str_digits(MAX_INTEGER_DIGITS)


def integer_digits_limit() -> int:
    """The most digits a number may have here: MAX_INTEGER_DIGITS, or fewer when int()
    takes fewer (the parser must never meet one that int() refuses)."""
    current = sys.get_int_max_str_digits()
    return min(current, MAX_INTEGER_DIGITS) if current else MAX_INTEGER_DIGITS


def _quotes(segment: bytes, escaped: bool) -> tuple[int, bool]:
    """(How many quotes of `segment` are not escaped, whether its last byte escapes the
    first of the next); `escaped`: its own first byte is escaped. Backslashes pair up
    from the start of each run, as in a JSON string; one outside a string is an error
    that stops the parser there, so what is counted after it does not matter."""
    if escaped and segment:
        segment = segment[1:]
    elif escaped:
        return 0, True
    if b"\\" not in segment:
        return segment.count(b'"'), False
    unpaired = segment.replace(b"\\\\", b"")
    return segment.count(b'"') - unpaired.count(b'\\"'), unpaired.endswith(b"\\")


class GuardedStream:
    """The file's decompressed bytes as the parser reads them (`read` only: ijson then
    takes each read whole, whatever its length). The event pipeline calls `event()` for
    each event it passes on. Raises FileFormatError (from `read`, through the parser)
    for a number or a value too long."""

    BASE_READ = 4096
    MAX_READ = 16 << 20

    def __init__(self, handle, path: str):
        self._handle = handle
        self._path = path
        self._max_value = max_value_bytes()
        self._max_digits = integer_digits_limit()
        self._long_run = b"0" * (self._max_digits + 1)
        self._events = self._events_at_read = 0
        self._size = self.BASE_READ
        self._offset = 0  # bytes handed to the parser
        self._quiet_from = 0  # where the bytes read since the parser's last event start
        self._in_string = self._escaped = False
        self._digits = 0  # the digits (outside a string) that end what was handed out

    def event(self) -> None:
        self._events += 1

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # the parser asks once whether the stream gives bytes or text
        if self._events != self._events_at_read:
            self._events_at_read = self._events
            self._size, self._quiet_from = self.BASE_READ, self._offset
        elif self._offset > self._quiet_from:
            self._size = min(self._size * 2, self.MAX_READ)
        # A stretch without an event never goes past the limit (and the few bytes before
        # the value in its first read): the reads stop there, so that a value of the limit
        # passes whatever follows it, and one a byte longer is refused.
        room = self._max_value + self.BASE_READ - (self._offset - self._quiet_from)
        if room <= 0:
            raise FileFormatError(
                f"{self._path}: a value near byte {self._quiet_from:,} is longer than "
                f"{human_size(self._max_value)} (DATATRANSFER_MAX_VALUE_MB); the file is refused."
            )
        data = self._handle.read(min(self._size, room))
        self._check_numbers(data)
        self._offset += len(data)
        return data

    def _too_many_digits(self, at: int) -> FileFormatError:
        return FileFormatError(
            f"{self._path}: the number at byte {at:,} has more than {self._max_digits:,} "
            "digits, more than a database column holds; the file is refused."
        )

    def _check_numbers(self, data: bytes) -> None:
        """Raise FileFormatError when `data` ends or holds a run of more than
        `_max_digits` digits outside a string; keep the string state for the next read."""
        shapes = data.translate(_DIGITS)
        leading = len(shapes) - len(shapes.lstrip(b"0"))
        if not self._in_string and self._digits + leading > self._max_digits:
            raise self._too_many_digits(self._offset - self._digits)
        if len(shapes) > self._max_digits and self._long_run in shapes:
            self._check_long_runs(data, shapes)
        quotes, self._escaped = _quotes(data, self._escaped)
        self._in_string ^= bool(quotes % 2)
        if leading == len(data):
            self._digits = 0 if self._in_string else self._digits + leading
        else:
            trailing = len(shapes) - len(shapes.rstrip(b"0"))
            self._digits = 0 if self._in_string else trailing

    def _check_long_runs(self, data: bytes, shapes: bytes) -> None:
        """Each run of too many digits in `data`: refused unless it is inside a string
        (the string state is followed from the start of `data` to the run)."""
        in_string, escaped, done = self._in_string, self._escaped, 0
        start = shapes.find(self._long_run)
        while start >= 0:
            quotes, escaped = _quotes(data[done:start], escaped)
            in_string ^= bool(quotes % 2)
            if not in_string:
                raise self._too_many_digits(self._offset + start)
            end = start + len(self._long_run)
            end += len(shapes[end:]) - len(shapes[end:].lstrip(b"0"))
            done = start
            start = shapes.find(self._long_run, end)
