"""`loaddomain -`: standard input, spooled to a private file and then read as any file.

The import reads its file more than once (the check, then the load), which a pipe cannot
give; so the bytes go first to a file only this user can read (0600, in the process's
work folder: removed at the end, or by the next start after a kill, see leftovers.py),
named after what they are: JSON (maybe gzip, bzip2 or xz) or a tar archive.

Standard input is refused in one line (exit status 2, nothing spooled or left behind) when
its first bytes are not those of an export (NUL bytes, UTF-16, text that is not JSON),
when it is larger than DATATRANSFER_STDIN_MAX_SIZE, or when the spool cannot be written
(a full disk, a file size limit).
"""

import bz2
import contextlib
import gzip
import lzma
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from datatransfer.exceptions import DataTransferError, FileFormatError
from datatransfer.files import human_size
from datatransfer.formats import SNIFF_SIZE, get_format
from datatransfer.leftovers import private_file, work_folder

BLOCK = 1 << 20
STANDARD_INPUT = "standard input"  # what errors about the spooled copy name
_COMPRESSED = ((b"\x1f\x8b", ".gz", gzip), (b"BZh", ".bz2", bz2), (b"\xfd7zXZ\x00", ".xz", lzma))


def max_size() -> int:
    return int(settings.DATATRANSFER_STDIN_MAX_SIZE)


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _name_for(head: bytes, path: Path) -> str:
    """The default format's export name (`export.json`), `.gz`, `.bz2` or `.xz` when
    compressed, or `archive.tar[.gz]`, from the first bytes."""
    export = get_format().member_name
    for magic, suffix, module in _COMPRESSED:
        if head.startswith(magic):
            with module.open(path, "rb") as inner, contextlib.suppress(OSError, EOFError):
                if _is_tar(inner.read(512)):
                    return "archive.tar.gz" if suffix == ".gz" else f"{export}{suffix}"
            return f"{export}{suffix}"
    return "archive.tar" if _is_tar(head) else export


def _read_head(source) -> bytes:
    """The first SNIFF_SIZE bytes of `source` (fewer at its end)."""
    head = b""
    try:
        while len(head) < SNIFF_SIZE and (block := source.read(SNIFF_SIZE - len(head))):
            head += block
    except OSError as error:
        raise FileFormatError(f"Cannot read standard input: {error.strerror or error}.") from None
    return head


def check_head(head: bytes) -> None:
    """Refuse standard input whose first bytes cannot start an export, before more is read
    (300 MB of zeros were once spooled before the file's check refused them): compressed
    or a tar archive by its magic bytes, else the start of a document of the default
    format (UTF-8 JSON text starting with `{`)."""
    if not head:
        raise FileFormatError("Standard input is empty: there is nothing to import.")
    if _is_tar(head) or any(head.startswith(magic) for magic, _, _ in _COMPRESSED):
        return
    problem = get_format().head_problem(head)
    if problem:
        raise FileFormatError(
            f"Standard input {problem}; nor is it gzip, bzip2, xz or a tar archive: it is not "
            "an export, and nothing more of it was read."
        )


def _read_some(source) -> bytes:
    """Up to BLOCK bytes of `source`, as soon as some are there (a pipe's writer may pause:
    its bytes are spooled as they come, not once a whole block has arrived)."""
    read1 = getattr(source, "read1", None)
    return read1(BLOCK) if read1 else source.read(BLOCK)


def _copy(head: bytes, source, out, limit: int) -> None:
    """Write `head`, then the rest of `source`, to `out`; raise FileFormatError once more
    than `limit` bytes came (at most `limit` are written)."""
    size, block = 0, head
    while block:
        size += len(block)
        if size > limit:
            raise FileFormatError(
                f"Standard input is more than {human_size(limit)} "
                "(DATATRANSFER_STDIN_MAX_MB), the most spooled for `loaddomain -`: give the "
                "file's path instead, or raise the limit."
            )
        out.write(block)
        block = _read_some(source)


def _spool(folder: Path, head: bytes, source) -> Path:
    """Copy standard input (`head` read already) to `folder`, named after what it is."""
    spool = folder / "stdin"
    with private_file(spool) as out:
        _copy(head, source, out, max_size())
    named = spool.with_name(_name_for(head, spool))
    spool.rename(named)
    return named


def _cannot_spool(error: OSError) -> DataTransferError:
    return DataTransferError(
        f"Cannot spool standard input in {work_folder()}: "
        f"{error.strerror or error}; nothing was imported."
    )


@contextlib.contextmanager
def file_or_stdin(name: str, stdin=None):
    """Yield `name`, or for `-` the path of a private copy of standard input. Raises
    FileFormatError for input that is not an export or is over the limit, and
    DataTransferError when the copy cannot be written (a full disk, a file size limit);
    then nothing is left behind. The errors of the block name `standard input`, not the
    copy's path."""
    if name != "-":
        yield name
        return
    source = stdin or sys.stdin.buffer
    head = _read_head(source)
    check_head(head)
    try:
        folder = tempfile.TemporaryDirectory(prefix="stdin-", dir=work_folder())
    except OSError as error:
        raise _cannot_spool(error) from None
    with folder:
        try:
            named = _spool(Path(folder.name), head, source)
        except OSError as error:
            raise _cannot_spool(error) from None
        try:
            yield str(named)
        except DataTransferError as error:
            # The spool is gone once the command ends: name what the user gave.
            error.args = (str(error).replace(str(named), STANDARD_INPUT),)
            raise
