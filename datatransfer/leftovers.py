"""What a killed or crashed run leaves behind, kept private and swept up by the next start.

A run stopped by SIGKILL, a segfault or the kernel's OOM killer runs no cleanup: its
temporary files stay (standard input spooled by `loaddomain -`, the worker's copy of an
upload, an archive's export taken out, the `.part` file of an export), and its history
record stays *running*. So:

- Every such file is private from its creation (0600, folders 0700), and belongs to its
  process: each process that makes one has a token, `dt<pid>-<random>`, and holds an
  exclusive lock (flock) on `DATATRANSFER_WORK_DIR/<token>.lock` for as long as it lives.
  The kernel releases that lock when the process ends, however it ends; a token is never
  used twice, so a pid used again cannot pass for a run that ended.
- Its spools and copies go to its own folder, `DATATRANSFER_WORK_DIR/<token>/`. The files
  it must make elsewhere (an export's `.part` beside its target, the upload being stored)
  carry the token in their name, and their folder and name prefix are written in the lock
  file (its journal) before they are made: the sweep never searches a user's folders, it
  only looks for those names.
- Its history records (ExportRecord, ImportRecord) name the token while they run (`owner`).

`sweep()` (at the start of dumpdomain, loaddomain, verifydomain, db_worker and
pruneexports) takes in turn each lock whose process has ended (a lock a live process
holds cannot be taken: its files and records are never touched), removes that run's
files, marks its records still running *interrupted*, and then its lock file. A lock file
that is missing (a run of another machine, whose lock is on that machine) is left alone,
and so are its records.
"""

import atexit
import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction

from datatransfer.exceptions import Code, DataTransferError

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"dt[0-9]+-[0-9a-f]{8}")
LOCK_SUFFIX = ".lock"
NEW_LOCK_PREFIX = ".new-"  # a lock file being made, renamed once held
KILLED = "Interrupted: the process running it ended without finishing (killed or crashed)."


class _Owner:
    """This process's token, and its lock file (held) in each work folder used."""

    def __init__(self):
        self.pid = os.getpid()
        self.token = f"dt{self.pid}-{secrets.token_hex(4)}"
        self.locks = {}  # work folder -> descriptor of the held lock file
        self.journaled = set()


_owner: _Owner | None = None


def _current() -> _Owner:
    """This process's owner (a new one after a fork: the child is another run)."""
    global _owner
    if _owner is None or _owner.pid != os.getpid():
        _owner = _Owner()
    return _owner


def work_dir() -> Path:
    return Path(settings.DATATRANSFER_WORK_DIR)


def _private(path, flags):
    """An `opener` for open(): the file is made with mode 0600, never more."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)


def private_file(path, mode: str = "xb"):
    """Open a new file at `path` for writing, with mode 0600 from its creation (open()'s
    would be 0644 with the usual umask); raise FileExistsError when `path` exists."""
    return open(path, mode, opener=_private)


def _lock_descriptor() -> int:
    """The descriptor of this process's lock file in the work folder, made and locked
    the first time. Raises OSError when the work folder cannot be made or written."""
    owner, folder = _current(), work_dir()
    key = str(folder)
    if key not in owner.locks:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner.locks[key] = _new_lock(folder, folder / f"{owner.token}{LOCK_SUFFIX}")
        if len(owner.locks) == 1:
            atexit.register(release)
    return owner.locks[key]


def _new_lock(folder: Path, lock: Path, attempts: int = 3) -> int:
    """Make the lock file `lock`, locked: first under a `.new-` name, then renamed, so the
    sweep never finds a live run's lock file unlocked. A `.new-` file is swept only once
    its lock can be taken: when a sweep took it before this process did, the rename finds
    it gone, and this starts again."""
    for attempt in range(attempts):
        descriptor, temporary = tempfile.mkstemp(prefix=NEW_LOCK_PREFIX, dir=folder)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # a sweep holds it a moment at most
            os.rename(temporary, lock)
            return descriptor
        except FileNotFoundError:
            os.close(descriptor)
            if attempt + 1 == attempts:
                raise
        except BaseException:
            os.close(descriptor)
            raise


def owner() -> str:
    """This process's token, for its history records; '' when its lock cannot be made
    (the work folder cannot be written: the records are then never swept)."""
    try:
        _lock_descriptor()
    except OSError as error:
        logger.warning("No lock in %s: %s", work_dir(), error)
        return ""
    return _current().token


def work_folder() -> Path:
    """This process's private folder (0700) for its spools and copies, removed by the
    sweep once the process has ended. Raises DataTransferError when it cannot be made."""
    try:
        _lock_descriptor()
        folder = work_dir() / _current().token
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise DataTransferError(
            f"Cannot use the work folder {work_dir()} (DATATRANSFER_WORK_DIR): "
            f"{error.strerror or error}.",
            code=Code.CANNOT_WRITE,
        ) from None
    return folder


def temporary_prefix(path) -> str:
    """The name prefix of a temporary file (or folder) standing for `path` in its folder,
    `.<name>.<token>.`, written first in this process's journal: once the process has
    ended, the sweep removes what starts with it in that folder. When the work folder
    cannot be written, the prefix is the same but nothing is journaled."""
    path = Path(path)
    owner = _current()
    prefix = f".{path.name}.{owner.token}."
    entry = os.path.join(os.path.abspath(path.parent), prefix)
    if entry not in owner.journaled:
        try:
            os.write(_lock_descriptor(), os.fsencode(entry) + b"\0")
            owner.journaled.add(entry)
        except OSError as error:
            logger.warning("Not journaled in %s: %s", work_dir(), error)
    return prefix


# ------------------------------------------------------------------------------ sweep


@dataclass
class Swept:
    """What a sweep removed (files and folders, each counted once) and the records it
    marked interrupted (or would have, in a dry run)."""

    files: int = 0
    records: int = 0


def sweep(*, dry_run: bool = False) -> Swept:
    """Remove what the runs that ended left behind, and mark their records interrupted
    (with `dry_run`, only count them); return the counts. Never raises: a work folder that
    cannot be read, or a database that cannot be written, is logged and left for the
    next sweep."""
    swept = Swept()
    folder = work_dir()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return swept
    mine = _current().token
    for name in names:
        path = folder / name
        token = name.removesuffix(LOCK_SUFFIX)
        try:
            if name.startswith(NEW_LOCK_PREFIX):
                _sweep_new_lock(path, dry_run)
            elif name != token and TOKEN.fullmatch(token) and token != mine:
                _sweep_run(folder, token, swept, dry_run)
        except OSError as error:
            logger.warning("Leftovers of %s not removed: %s", path, error)
    return swept


@contextlib.contextmanager
def _ended(lock: Path):
    """Yield the descriptor of `lock`, locked, when its process has ended; None while it
    runs (or when the lock file is gone)."""
    try:
        descriptor = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield descriptor
    finally:
        os.close(descriptor)


def _sweep_new_lock(path: Path, dry_run: bool) -> None:
    """A lock file its process never renamed (it was killed in between): removed."""
    with _ended(path) as descriptor:
        if descriptor is not None and not dry_run:
            path.unlink(missing_ok=True)


def _sweep_run(folder: Path, token: str, swept: Swept, dry_run: bool) -> None:
    lock = folder / f"{token}{LOCK_SUFFIX}"
    with _ended(lock) as descriptor:
        if descriptor is None:
            return
        swept.files += _remove_files(folder, token, _read_all(descriptor), dry_run)
        try:
            swept.records += _interrupt_records(token, dry_run)
        except DatabaseError as error:
            logger.warning("Records of %s not marked interrupted: %s", token, error)
            return  # the lock file stays: the next sweep tries again
        if not dry_run:
            lock.unlink(missing_ok=True)


def _remove_files(folder: Path, token: str, journal: bytes, dry_run: bool) -> int:
    """Remove the run's work folder and the files its journal names; return how many
    (the work folder's contents and each journaled file or folder, what lies inside them
    not counted again). Raises OSError when one cannot be removed."""
    found = []
    work = folder / token
    if work.is_dir() and not work.is_symlink():
        found += work.iterdir()
    for entry in dict.fromkeys(filter(None, journal.split(b"\0"))):
        found += _journaled(os.fsdecode(entry), token)
    found = [path for path in found if not any(path.is_relative_to(p) for p in found if p != path)]
    for path in found:
        _remove(path, dry_run)
    if work.is_dir() and not dry_run:
        shutil.rmtree(work)
    return len(found)


def _journaled(entry: str, token: str) -> list[Path]:
    """What starts with the journaled prefix `entry` in its folder."""
    folder, prefix = os.path.split(entry)
    if f".{token}." not in prefix:  # not a name this module made: never
        return []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [Path(folder, name) for name in names if name.startswith(prefix)]


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _remove(path: Path, dry_run: bool) -> None:
    """Remove `path` (a folder with what it holds; a link, not what it points to)."""
    if dry_run:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _run_models():
    """The history's models whose records run (every concrete model with `owner`)."""
    config = apps.get_app_config("datatransfer")
    return [
        model
        for model in config.get_models()
        if any(field.name == "owner" for field in model._meta.concrete_fields)
    ]


def _interrupt_records(token: str, dry_run: bool) -> int:
    """Mark the records `token`'s run left running interrupted; return how many."""
    count = 0
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        for model in _run_models():
            running = model.objects.using(DEFAULT_DB_ALIAS).filter(
                owner=token, status=model.Status.RUNNING
            )
            count += (
                running.count()
                if dry_run
                else running.update(status=model.Status.INTERRUPTED, error=KILLED)
            )
    return count


def release() -> None:
    """At the process's normal end (atexit): remove what it would leave (nothing, unless
    a cleanup failed), then its lock files. A lock file stays when something could not
    be removed: the sweep tries again."""
    owner = _owner
    if owner is None or owner.pid != os.getpid():
        return
    for key, descriptor in list(owner.locks.items()):
        folder = Path(key)
        with contextlib.suppress(OSError):
            os.lseek(descriptor, 0, os.SEEK_SET)
            _remove_files(folder, owner.token, _read_all(descriptor), dry_run=False)
            (folder / f"{owner.token}{LOCK_SUFFIX}").unlink()
        with contextlib.suppress(OSError):
            os.close(descriptor)
        del owner.locks[key]
