"""Uploaded files travel with the data: `dumpdomain --with-media` writes one tar archive
(`export.json`, every file the exported documents name under `media/<path>`, and
`media-manifest.json` with each file's size and SHA-256); `loaddomain` reads it back,
then writes the files under the target's MEDIA_ROOT, never outside it.

Why tar (`.tar`, or `.tar.gz`/`.tgz` compressed): it streams both ways (written and read
front to back, so neither side ever seeks or holds a file in memory), its PAX headers take
unicode names and members over 8 GB, and Python's `tarfile` reads it everywhere. A zip
needs to seek to its central directory at the end.
"""

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from datatransfer.checksums import DigestingWriter, FileDigest, file_digest
from datatransfer.exceptions import (
    Code,
    DataTransferError,
    FileFormatError,
    escaped,
    quoted,
)
from datatransfer.fileformat.writer import atomic_file
from datatransfer.leftovers import private_file, temporary_prefix
from datatransfer.registry import domain_tables
from datatransfer.reports import MediaOutcome, MediaReport
from datatransfer.signing import require_signature, signed, signing_key

EXPORT_MEMBER = "export.json"
MANIFEST_MEMBER = "media-manifest.json"
MEDIA_PREFIX = "media/"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
BLOCK_SIZE = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)
# Why a file is a conflict when a different one stands under its name (the caller may
# allow overwriting it).
DIFFERENT_FILE = "a different file is there"


# ---------------------------------------------------------------------------- paths


def is_archive_name(path: str) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _first_block(path: str) -> bytes:
    """The first 512 bytes of the file, decompressed when it is gzip; b'' when unreadable."""
    try:
        with open(path, "rb") as raw:
            if raw.read(2) != b"\x1f\x8b":
                raw.seek(0)
                return raw.read(tarfile.BLOCKSIZE)
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as unzipped:
                return unzipped.read(tarfile.BLOCKSIZE)
    except (*_TAR_ERRORS, gzip.BadGzipFile):
        return b""


def has_tar_header(block: bytes) -> bool:
    """Whether `block` is a tar header: the POSIX or GNU magic and a right checksum (a
    block of zeros, which tarfile takes for an empty archive, is not)."""
    if len(block) < tarfile.BLOCKSIZE or block[257:262] != b"ustar":
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def is_archive(path: str) -> bool:
    """True when `path` is a tar archive: by its name, or, for any other name, by the
    header of its first member (the file gzip-compressed or not). Reads one block."""
    if is_archive_name(path):
        return True
    return Path(path).is_file() and has_tar_header(_first_block(path))


def media_path(value: str) -> str | None:
    """The normalized relative path of an upload (`./a//b` -> `a/b`), or None when it
    would leave MEDIA_ROOT (absolute, `..`) or names nothing."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path.as_posix()


# ---------------------------------------------------------------------------- export


class _HashingReader:
    """A file object that computes the SHA-256 of what is read through it."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size=-1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


class ReferencedFiles:
    """The distinct paths under MEDIA_ROOT that the rows an export writes name in their
    file fields (the tables' declared `file_fields`, such as the documents' `filePath`),
    collected as the rows are written (the exporter's `on_row`): a subset carries only
    its own files, and the export is never read back for them."""

    def __init__(self):
        self.paths = set()
        self._file_keys = {
            table.key: [spec.key for spec in table.file_fields]
            for table in domain_tables()
            if table.file_fields
        }

    def __call__(self, key: str, row: dict) -> None:
        for name in self._file_keys.get(key, ()):
            if path := row.get(name):
                self.paths.add(path)


def check_archive_output(path: str) -> None:
    """Raise DataTransferError unless `path` can take an archive: a `.tar`, `.tar.gz` or
    `.tgz` name in a folder that exists (never created behind the user's back)."""
    if not is_archive_name(path):
        raise DataTransferError(
            f"{path}: an export with its files is a tar archive; name it .tar or .tar.gz.",
            code=Code.NOT_AN_ARCHIVE_NAME,
        )
    folder = Path(path).parent
    if not folder.is_dir():
        raise DataTransferError(
            f"Cannot write {path}: the folder {folder} does not exist.", code=Code.NO_FOLDER
        )


def _tar_info(
    name: str, size: int, mode: int = 0o600, mtime: float | None = None
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(mtime if mtime is not None else time.time())
    return info


def _add_file(tar: tarfile.TarFile, name: str, handle, mode: int = 0o600) -> tuple[int, str]:
    """Stream an open file into the archive; return its size and SHA-256."""
    status = os.fstat(handle.fileno())
    reader = _HashingReader(handle)
    # tarfile copies exactly `size` bytes in blocks, and fails if the file got shorter.
    tar.addfile(_tar_info(name, status.st_size, mode & 0o777, status.st_mtime), reader)
    return status.st_size, reader.digest.hexdigest()


def _add_media(tar: tarfile.TarFile, paths, root: Path, manifest: dict) -> None:
    """Add each upload of `paths` under media/, listed in the manifest's `files`, or in
    its `missing` with the reason."""
    for value in sorted(paths):
        relative = media_path(value)
        source = (root / relative).resolve() if relative else None
        if source is None or not source.is_relative_to(root):
            manifest["missing"].append({"path": value, "reason": "outside MEDIA_ROOT"})
            continue
        if source.exists() and not source.is_file():  # a folder, or a pipe that would block
            manifest["missing"].append({"path": value, "reason": "not a regular file"})
            continue
        try:
            handle = open(source, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as error:
            manifest["missing"].append({"path": value, "reason": error.strerror or str(error)})
            continue
        with handle:
            size, digest = _add_file(
                tar, MEDIA_PREFIX + relative, handle, os.fstat(handle.fileno()).st_mode
            )
        manifest["files"].append({"path": relative, "size": size, "sha256": digest})


def write_archive(
    output: str, export_path: str, export: FileDigest, paths, media_root, *, signing_key: str
) -> tuple[dict, FileDigest]:
    """Write the tar archive `output` (gzip-compressed unless named `.tar`): the export
    file `export_path` (whose size and SHA-256, counted when it was written, are
    `export`), every upload of `paths` found under `media_root` and the manifest (signed
    with `signing_key`, if any). A referenced file that is missing is listed in the
    manifest's `missing`, not an error. Return the manifest and the archive's own size
    and SHA-256, counted as it is written.

    Raises OSError when the archive cannot be written (then no file stands at `output`).
    """
    manifest = {"format": "domain-export-media", "version": "1.0", "files": [], "missing": []}
    archive = FileDigest()
    mode = "w" if output.lower().endswith(".tar") else "w:gz"
    with (
        atomic_file(Path(output)) as file,
        tarfile.open(
            fileobj=DigestingWriter(file, archive), mode=mode, format=tarfile.PAX_FORMAT
        ) as tar,
    ):
        with open(export_path, "rb") as handle:
            tar.addfile(_tar_info(EXPORT_MEMBER, export.size), handle)
        manifest["export"] = {"size": export.size, "sha256": export.sha256}
        _add_media(tar, paths, Path(media_root).resolve(), manifest)
        if signing_key:
            manifest = signed(manifest, signing_key)
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
        tar.addfile(_tar_info(MANIFEST_MEMBER, len(data)), io.BytesIO(data))
    return manifest, archive


# ---------------------------------------------------------------------------- import


@dataclass
class _Contents:
    export_path: str
    manifest: dict  # relative path -> {"path", "size", "sha256"}


def _member_problem(member: tarfile.TarInfo) -> str:
    """Why `member` may not be extracted, or ''."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute():
        return "has an absolute path"
    if ".." in parts or ".." in name.split("\\"):
        return "goes up with '..'"
    if member.issym() or member.islnk():
        return "is a link"
    if not (member.isreg() or member.isdir()):
        return "is a device or special file"
    if member.isdir():
        return "" if parts and parts[0] == MEDIA_PREFIX.rstrip("/") else "is not under media/"
    if name in (EXPORT_MEMBER, MANIFEST_MEMBER):
        return ""
    if (
        not name.startswith(MEDIA_PREFIX)
        or media_path(name[len(MEDIA_PREFIX) :]) != name[len(MEDIA_PREFIX) :]
    ):
        return "is not under media/"
    return ""


def _read_manifest(path: str, stream) -> tuple[dict, dict | None]:
    """The media manifest's entries ({relative path: entry}) and the export it names (size
    and SHA-256, or None in an archive written before it did). With a signing key set,
    raises SignatureError unless the manifest is signed with it."""
    try:
        document = json.load(stream)
        if not isinstance(document, dict):
            raise ValueError("not an object")
        if key := signing_key():
            require_signature(f"{path}:{MANIFEST_MEMBER}", document, key)
        export = document.get("export")
        if export is not None and (
            not isinstance(export, dict)
            or not isinstance(export.get("size"), int)
            or not _SHA256.fullmatch(str(export.get("sha256")))
        ):
            raise ValueError("bad export entry")
        entries = {}
        for entry in document["files"]:
            relative, size, digest = entry["path"], entry["size"], entry["sha256"]
            if (
                media_path(relative) != relative
                or not isinstance(size, int)
                or not _SHA256.fullmatch(str(digest))
            ):
                raise ValueError(f"bad entry {quoted(relative)}")
            entries[relative] = {"path": relative, "size": size, "sha256": digest}
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise FileFormatError(
            f"{path}: {MANIFEST_MEMBER} is not a media manifest ({error})."
        ) from None
    if export is None and signing_key():
        raise FileFormatError(f"{path}: {MANIFEST_MEMBER} does not name its export.")
    return entries, export


def read_archive(path: str, work: str) -> _Contents:
    """Check every member of the archive and extract the export into the folder `work`.

    Raises FileFormatError, before anything is written, for an unreadable archive, a
    member that is a link or a device, leaves the archive's folder or is not under
    `media/`, a missing export or manifest, files or an export that do not match the
    manifest, and (SignatureError) with a signing key set, a manifest not signed with it.
    """
    export_path, manifest, named_export, media, seen = None, None, None, {}, set()
    export_digest, export_size = hashlib.sha256(), 0
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                problem = _member_problem(member) or (
                    "appears twice" if member.name in seen else ""
                )
                if problem:
                    name = quoted(member.name)
                    raise FileFormatError(
                        f"Refused {path}: its member {name} {problem}; nothing was written."
                    )
                seen.add(member.name)
                if member.name == EXPORT_MEMBER:
                    export_path = os.path.join(work, EXPORT_MEMBER)
                    with private_file(export_path) as out:
                        _copy(tar.extractfile(member), out, export_digest)
                    export_size = member.size
                elif member.name == MANIFEST_MEMBER:
                    manifest, named_export = _read_manifest(path, tar.extractfile(member))
                elif member.isreg():
                    media[member.name[len(MEDIA_PREFIX) :]] = member.size
    except _TAR_ERRORS as error:
        raise FileFormatError(
            f"{path} is not a readable tar archive ({escaped(error or type(error).__name__)})."
        ) from None
    if export_path is None or manifest is None:
        missing = EXPORT_MEMBER if export_path is None else MANIFEST_MEMBER
        raise FileFormatError(
            f"{path} has no {missing}: it is not an export archive with its files.",
            code=Code.NOT_AN_ARCHIVE,
        )
    if named_export is not None and (export_size, export_digest.hexdigest()) != (
        named_export["size"],
        named_export["sha256"],
    ):
        raise FileFormatError(
            f"Refused {path}: {EXPORT_MEMBER} is not the export {MANIFEST_MEMBER} names "
            "(its size or SHA-256 differs); nothing was written."
        )
    _check_media(path, media, manifest)
    return _Contents(export_path=export_path, manifest=manifest)


def _check_media(path: str, media: dict, manifest: dict) -> None:
    """The archive's files (`media`: relative path -> size) against the manifest's entries:
    the same paths, the same sizes. Raises FileFormatError for the first that differs,
    before anything is written (each digest is checked as its file is restored)."""
    for relative in sorted(set(media) ^ set(manifest)):
        where = "not listed in" if relative in media else "missing from the archive but listed in"
        raise FileFormatError(
            f"Refused {path}: {quoted(MEDIA_PREFIX + relative)} is {where} {MANIFEST_MEMBER}; "
            "nothing was written."
        )
    for relative, size in media.items():
        if manifest[relative]["size"] != size:
            raise FileFormatError(
                f"Refused {path}: {quoted(MEDIA_PREFIX + relative)} has {size} bytes, the "
                f"manifest says {manifest[relative]['size']}; nothing was written."
            )


def _copy(source, target, digest=None) -> None:
    while block := source.read(BLOCK_SIZE):
        if digest is not None:
            digest.update(block)
        if target is not None:
            target.write(block)


def _restore(
    tar, member, entry: dict, root: Path, *, overwrite: bool, dry_run: bool
) -> tuple[MediaOutcome, str]:
    """Put one member under `root` (or only check it, in a dry run); return its outcome."""
    target = root / entry["path"]
    if not target.parent.resolve().is_relative_to(root):
        return MediaOutcome.FAILED, "its folder is a link leading outside MEDIA_ROOT"
    outcome = MediaOutcome.CREATED
    if target.is_symlink() or (target.exists() and not target.is_file()):
        return MediaOutcome.CONFLICT, "exists and is not a regular file"
    if target.exists():
        size, digest = file_digest(str(target))
        if (size, digest) == (entry["size"], entry["sha256"]):
            return MediaOutcome.UNCHANGED, ""
        if not overwrite:
            return (
                MediaOutcome.CONFLICT,
                DIFFERENT_FILE,
            )
        outcome = MediaOutcome.REPLACED
    digest = hashlib.sha256()
    if dry_run:
        _copy(tar.extractfile(member), None, digest)
        if digest.hexdigest() != entry["sha256"]:
            return MediaOutcome.FAILED, f"its SHA-256 does not match {MANIFEST_MEMBER}"
        return outcome, ""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = temporary_prefix(target)
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
    try:
        os.fchmod(fd, (member.mode & 0o644) | 0o600)
        with os.fdopen(fd, "wb") as out:
            _copy(tar.extractfile(member), out, digest)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != entry["sha256"]:
            os.unlink(temporary)
            return MediaOutcome.FAILED, f"its SHA-256 does not match {MANIFEST_MEMBER}; not written"
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return outcome, ""


def restore_media(
    path: str, manifest: dict, media_root: Path, *, overwrite=False, dry_run=False
) -> MediaReport:
    """Write the archive's files under `media_root` (nothing in a dry run); return a
    MediaReport. A file that cannot be written is FAILED in the report, never raised."""
    root = media_root.resolve()
    report = MediaReport(media_root=str(media_root), dry_run=dry_run)
    done = set()
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                relative = member.name[len(MEDIA_PREFIX) :]
                if not member.isreg() or not member.name.startswith(MEDIA_PREFIX):
                    continue
                if relative not in manifest or _member_problem(member):
                    report.add(
                        relative, MediaOutcome.FAILED, "the archive changed since it was checked"
                    )
                    continue
                try:
                    outcome, message = _restore(
                        tar, member, manifest[relative], root, overwrite=overwrite, dry_run=dry_run
                    )
                except OSError as error:
                    outcome, message = MediaOutcome.FAILED, error.strerror or str(error)
                report.add(relative, outcome, message)
                done.add(relative)
    except _TAR_ERRORS as error:
        reason = f"the archive could not be read again ({error or type(error).__name__})"
        for relative in sorted(set(manifest) - done):
            report.add(relative, MediaOutcome.FAILED, reason)
    return report
