"""Small helpers about files that the reports, the formats and the archive all use: a
size for people, a file written whole or not at all, and compression by the file's name.
They import nothing of the project but its temporary names, so anything may import them."""

import bz2
import contextlib
import gzip
import io
import lzma
import os
import sys
import tempfile
from pathlib import Path

from datatransfer.checksums import DigestingWriter
from datatransfer.leftovers import temporary_prefix

# Compression by the file name, as Django's dumpdata/loaddata: one module per suffix.
COMPRESSIONS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}


def compression_of(path: str):
    """The module (gzip, bz2, lzma) that `path`'s name asks for, or None."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a binary file written under a temporary name in `path`'s folder, mode 0600,
    and renamed to `path` only when the block ends without error; on any error (Ctrl-C
    included) the temporary file is removed and nothing stands under `path`."""
    prefix = temporary_prefix(path)
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def open_output(path: str, stdout=None, *, digest=None):
    """Yield a text stream for `path` (`-` is `stdout`, by default sys.stdout; `.gz`, `.bz2`
    and `.xz` are compressed).

    A file is written under a temporary name in the same folder, with mode 0600 (it
    holds password hashes), and renamed only when the block ends without error, so no
    partial file ever stands under the final name. Every byte written to the file (as it
    lies on disk, compressed) is added to `digest` (checksums.FileDigest), if given.
    """
    if path == "-":
        stream = stdout or sys.stdout
        yield stream
        stream.flush()
        return
    target = Path(path)
    with atomic_file(target) as file:
        raw = DigestingWriter(file, digest) if digest is not None else file
        compression = compression_of(path)
        if compression is gzip:
            binary = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
        else:
            binary = compression.open(raw, "wb") if compression else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n", write_through=False)
        yield text
        text.flush()
        text.detach()
        if binary is not raw:
            binary.close()


def unwritable_reason(path) -> str | None:
    """Why no file can be written at `path` (its folder is missing or takes no new file,
    or `path` is a folder), or None when one can. A probe file is created, then removed."""
    target = Path(path)
    if target.is_dir():
        return "it is a folder"
    if not target.parent.is_dir():
        return f"no folder {target.parent}"
    try:
        descriptor, probe = tempfile.mkstemp(
            prefix=temporary_prefix(target), suffix=".part", dir=target.parent
        )
    except OSError as error:
        return error.strerror or str(error)
    os.close(descriptor)
    os.unlink(probe)
    return None
