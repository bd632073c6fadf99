"""The export file opened once, whatever its format: every read of one import reads the
same bytes, and a file changed while it is read is refused."""

import hashlib
import io
import os
import stat

from datatransfer.exceptions import FileChangedError, FileFormatError


class ExportSource:
    """The export file, opened once: every read of one import reads these same bytes.

    Each read has its own position on the one descriptor (`pread`), so a file renamed over
    the path once it is open is never seen. Each complete read hashes what it read;
    `end_read` raises FileChangedError when that differs from the first complete read
    (the file was rewritten in place, or grew or shrank). Use it in a `with` block.
    `name` is what messages call the file (default: its path).
    """

    BUFFER_SIZE = 1 << 18

    def __init__(self, path, *, name: str | None = None):
        self.path = str(name or path)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
            fd = os.open(str(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise FileFormatError(f"No such file: {self.path}") from None
        except OSError as error:
            raise FileFormatError(f"Cannot read {self.path}: {error.strerror or error}.") from None
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            raise FileFormatError(f"{self.path} is not a regular file.")
        self._fd = fd
        self.size = status.st_size
        self.sha256 = None  # of the first complete read
        # What a format learned of the file on one read, for its next reads (the layout).
        self.learned = {}

    def open(self) -> "_SourceRead":
        """A new read of the file from its first byte (a raw binary stream)."""
        return _SourceRead(self._fd)

    def end_read(self, read: "_SourceRead") -> None:
        """Hash what is left of `read`, to the end of the file; raise FileChangedError when
        the whole differs from the first complete read."""
        digest = read.finish()
        if self.sha256 is None:
            self.sha256 = digest
        elif digest != self.sha256:
            raise FileChangedError(
                f"{self.path} changed while it was read: it is no longer the file that was "
                "checked; nothing was written."
            )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _SourceRead(io.RawIOBase):
    """One read of an ExportSource: its own position, and the SHA-256 of what it read."""

    def __init__(self, fd: int):
        self._fd = fd
        self._position = 0
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = os.preadv(self._fd, [buffer], self._position)
        self._position += count
        self._digest.update(memoryview(buffer)[:count])
        return count

    def finish(self) -> str:
        """Read (and hash) the rest of the file; return the hex SHA-256 of all of it."""
        block = bytearray(1 << 20)
        while self.readinto(block):
            pass
        return self._digest.hexdigest()
