"""`loaddomain -`: standard input, spooled to a private file and then read as any file.

The import reads its file more than once (the check, then the load), which a pipe cannot
give; so the bytes go first to a file only this user can read (0600, in the process's
work folder: removed at the end, or by the next start after a kill, see leftovers.py),
named after what they are: JSON (maybe gzip, bzip2 or xz) or a tar archive.
"""

import bz2
import contextlib
import gzip
import lzma
import shutil
import sys
import tempfile
from pathlib import Path

from datatransfer.leftovers import private_file, work_folder

BLOCK = 1 << 20
_COMPRESSED = ((b"\x1f\x8b", ".gz", gzip), (b"BZh", ".bz2", bz2), (b"\xfd7zXZ\x00", ".xz", lzma))


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _name_for(head: bytes, path: Path) -> str:
    """`export.json[.gz|.bz2|.xz]` or `archive.tar[.gz]`, from the first bytes."""
    for magic, suffix, module in _COMPRESSED:
        if head.startswith(magic):
            with module.open(path, "rb") as inner, contextlib.suppress(OSError, EOFError):
                if _is_tar(inner.read(512)):
                    return "archive.tar.gz" if suffix == ".gz" else f"export.json{suffix}"
            return f"export.json{suffix}"
    return "archive.tar" if _is_tar(head) else "export.json"


@contextlib.contextmanager
def file_or_stdin(name: str, stdin=None):
    """Yield `name`, or for `-` the path of a private copy of standard input."""
    if name != "-":
        yield name
        return
    source = stdin or sys.stdin.buffer
    with tempfile.TemporaryDirectory(prefix="stdin-", dir=work_folder()) as folder:
        spool = Path(folder) / "stdin"
        with private_file(spool) as out:
            shutil.copyfileobj(source, out, BLOCK)
        with open(spool, "rb") as file:
            head = file.read(1024)
        named = spool.with_name(_name_for(head, spool))
        spool.rename(named)
        yield str(named)
