"""Files uploaded in the admin for an import: kept privately (DATATRANSFER_IMPORTS_DIR,
mode 0600, never under MEDIA_ROOT or the static files), named by their SHA-256, and read
back only as the bytes that were checked.

An upload is refused in one line when its name is not one the import reads (`.json`,
`.json.gz`, `.json.bz2`, `.json.xz`, or an archive `.tar`, `.tar.gz`, `.tgz`) or when it
is larger than DATATRANSFER_IMPORT_MAX_SIZE: while it arrives (LimitedUpload, the first of
the request's upload handlers), before its bytes reach the temporary folder.
"""

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from datatransfer.checksums import file_digest
from datatransfer.exceptions import DataTransferError, FileChangedError, FileFormatError
from datatransfer.files import human_size
from datatransfer.formats import output_suffixes
from datatransfer.leftovers import private_file, temporary_prefix, work_folder
from datatransfer.media import ARCHIVE_SUFFIXES

SUFFIXES = (*output_suffixes(), *ARCHIVE_SUFFIXES)
BLOCK_SIZE = 1 << 20
# Room for the upload form's other fields and the multipart framing in a request's
# Content-Length: a longer body holds a file over the limit, refused before a byte is kept.
FORM_ROOM = 64 * 1024


@dataclass
class StoredFile:
    """An upload once kept: where, its size and its SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str


def imports_dir() -> Path:
    return Path(settings.DATATRANSFER_IMPORTS_DIR)


def max_size() -> int:
    return int(settings.DATATRANSFER_IMPORT_MAX_SIZE)


def suffix_of(name: str) -> str:
    """The suffix of `name` that the import reads (`.json.gz`, `.tar`...); raise
    FileFormatError for any other name."""
    lowered = name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return suffix
    raise FileFormatError(
        f"{name} is not an export file nor an archive: choose a {', '.join(output_suffixes())} "
        f"file or a {', '.join(ARCHIVE_SUFFIXES)} archive."
    )


def too_large(name: str, size: int | None = None) -> FileFormatError:
    """The refusal of a file over the limit, of `size` bytes (None: not known, only that it
    is over)."""
    limit = human_size(max_size())
    shown = human_size(size) if size is not None else "over the limit"
    return FileFormatError(
        f"{name} is {shown}: files of more than {limit} are not taken here "
        "(DATATRANSFER_IMPORT_MAX_MB); load it with `python manage.py loaddomain` instead."
    )


class LimitedUpload(FileUploadHandler):
    """An upload handler that refuses a file over DATATRANSFER_IMPORT_MAX_SIZE while the
    request's body arrives; install it first, before the body is read.

    Django's own handlers keep a file in memory or in the temporary folder as it arrives,
    and the size could only be checked once it was all there (a 40 MB upload under a 2 MB
    limit filled the temporary folder first). This one sees each block first: a body whose
    Content-Length is over the limit (and the form's room) has its file skipped before any
    block is kept; otherwise the file is skipped once its blocks pass the limit. Skipped,
    not stopped: the rest of the body is read and dropped, so that the form's other fields
    arrive and the page answers with the reason (`refused`) instead of a dropped connection.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = max_size()
        self.body_size = 0
        self.received = 0
        self.refused: FileFormatError | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.body_size = content_length
        return None  # the parsing is Django's

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.body_size > self.limit + FORM_ROOM:
            self._refuse(self.body_size)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse(None)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handlers make the file

    def _refuse(self, size):
        self.refused = too_large(self.file_name or "The file", size)
        raise SkipFile


def store_upload(upload) -> StoredFile:
    """Keep the uploaded file (a Django UploadedFile) in the imports folder under its
    SHA-256 and its suffix, privately; return it. Raises DataTransferError for a name the
    import does not read, a file over the size limit, or a folder that cannot be written."""
    suffix = suffix_of(upload.name)
    limit = max_size()
    if upload.size > limit:
        raise too_large(upload.name, upload.size)
    folder = imports_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        prefix = temporary_prefix(folder / "upload")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=prefix, delete=False) as out:
            try:
                for chunk in upload.chunks(BLOCK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                path = _keep(out.name, folder, digest.hexdigest(), suffix)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(out.name)
                raise
    except OSError as error:
        raise DataTransferError(
            f"Cannot keep the uploaded file in {folder}: {error.strerror or error}."
        ) from error
    return StoredFile(path=path, size=size, sha256=digest.hexdigest())


def _keep(written: str, folder: Path, sha256: str, suffix: str) -> Path:
    """Move the upload `written` to `folder/<sha256><suffix>`, or `<sha256>-2<suffix>`,
    `-3`... when that name is taken: each upload keeps a file of its own, even of the same
    bytes, because a confirmed import deletes its file (previews of the same bytes must not
    lose theirs). The name is claimed first (created exclusively), then replaced."""
    number = 1
    while True:
        path = folder / f"{sha256}{f'-{number}' if number > 1 else ''}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            number += 1
            continue
        try:
            os.replace(written, path)  # mode 0600, as NamedTemporaryFile made it
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


def sha256_of(path) -> str:
    """The SHA-256 (hex) of the file at `path`; raise FileFormatError when it is gone."""
    try:
        return file_digest(path)[1]
    except OSError as error:
        raise _gone(error) from None


def _gone(error: OSError) -> FileFormatError:
    return FileFormatError(
        f"The uploaded file is no longer there ({error.strerror or error}): upload it again."
    )


@contextlib.contextmanager
def checked_copy(path, sha256: str):
    """Yield the path of a private copy of the file at `path` whose SHA-256 is `sha256`:
    what is imported is exactly the bytes that were checked, whatever happens to the kept
    file meanwhile. Raises FileChangedError when the file's SHA-256 is another."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="import-", dir=work_folder()) as work:
        copy = Path(work) / path.name
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as source, private_file(copy) as out:
                while block := source.read(BLOCK_SIZE):
                    digest.update(block)
                    out.write(block)
        except OSError as error:
            raise _gone(error) from None
        if digest.hexdigest() != sha256:
            raise FileChangedError(
                "The uploaded file changed since it was uploaded (its SHA-256 is not the one "
                "recorded): it is not imported; upload it again."
            )
        yield copy
