"""Sizes and SHA-256 of files: read from a file, or counted while a file is written (one
pass: the export history's checksum costs no second read)."""

import hashlib
import io

BLOCK_SIZE = 1 << 20


class FileDigest:
    """The size and SHA-256 of the bytes given to `update`."""

    def __init__(self):
        self.size = 0
        self._sha256 = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._sha256.update(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


def file_digest(path: str) -> tuple[int, str]:
    """The size in bytes and the SHA-256 (hex) of a file, read in blocks."""
    digest = FileDigest()
    with open(path, "rb") as file:
        while block := file.read(BLOCK_SIZE):
            digest.update(block)
    return digest.size, digest.sha256


class DigestingWriter(io.RawIOBase):
    """A binary file that writes through to `raw` and adds every byte to `digest` (a
    FileDigest). `tell()` is the number of bytes written (`raw` starts empty)."""

    def __init__(self, raw, digest: FileDigest):
        self.raw = raw
        self.digest = digest

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.raw.write(data)
        self.digest.update(data)
        return len(data)

    def tell(self) -> int:
        return self.digest.size

    def flush(self) -> None:
        if not self.raw.closed:  # also called when this wrapper is collected
            self.raw.flush()
