"""Errors of the export and import engines; the commands turn them into one-line messages."""

import unicodedata
from enum import StrEnum

# The exit statuses of the commands: 0 when all went well, and these.
EXIT_ROWS_FAILED = 1  # rows failed (the other rows were loaded), or the database differs
EXIT_REFUSED = 2  # a file-level or option error: nothing was written
EXIT_CONFLICTS = 3  # no row failed, but rows were skipped as conflicts
EXIT_PLAN_CHANGED = 4  # the file or the target's rows changed since the plan: nothing written
EXIT_CHANGED_SINCE = 5  # revertimport: rows the import wrote changed since; nothing written

QUOTED_LIMIT = 80


_UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp", "Cs")


def _escape(char: str) -> str:
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def one_line(text: str) -> str:
    """`text` with its control, format and line separator characters escaped (`\\n`,
    `\\x1b`, `\\u2028`): it prints on one line and cannot drive a terminal."""
    if text.isprintable():
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in _UNPRINTABLE else char for char in text
    )


def escaped(value, limit: int = QUOTED_LIMIT) -> str:
    """`value` as text fit for a one-line message: control, format and line separator
    characters (and backslashes) escaped (`\\n`, `\\x1b`, `\\u2028`), cut after `limit`
    characters with `...`."""
    text = str(value)
    shown = "".join(
        _escape(char) if char == "\\" or unicodedata.category(char) in _UNPRINTABLE else char
        for char in text[:limit]
    )
    return shown + ("..." if len(text) > limit else "")


def quoted(value, limit: int = QUOTED_LIMIT) -> str:
    """`value` escaped (see `escaped`) between single quotes."""
    return f"'{escaped(value, limit)}'"


def first_line(error: BaseException) -> str:
    """The first line of an error's text (a database error's detail lines left out)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Code(StrEnum):
    """What an error (or a note of a report) is about, when the caller can do something
    about it. Messages never name a command-line flag: the command line turns the code
    into the hint that does (management/rendering.py)."""

    UNKNOWN_NAMES = "unknown-names"  # tables or fields the models lack: ignore_unknown
    UNKNOWN_SKIPPED = "unknown-skipped"  # a note: they were skipped, as asked
    NOT_VERIFIED = "not-verified"  # the file cannot be trusted as it is: verify=False
    UNVERIFIED = "unverified"  # a note: verify=False, the file was not checked
    SIGNATURE = "signature"  # a signing key is set and the file is not signed with it
    # (or its rows do not match its signed manifest)
    VERIFY_REQUIRED = "verify-required"  # a signing key is set: verify=False is refused
    LOCK_TIMEOUT = "lock-timeout"  # another session held a lock too long: lock_timeout
    IMPORT_LOCKED = "import-locked"  # another import is running: wait
    STRICT = "strict"  # a failed row rolled everything back: strict
    MEDIA_DIFFERS = "media-differs"  # a different uploaded file is there: overwrite_media
    NOT_AN_ARCHIVE = "not-an-archive"  # a tar archive that is not an export with its files
    BAD_OPTION = "bad-option"  # an option's value is wrong
    BAD_INDENT = "bad-indent"  # an export's indentation below 0
    CANNOT_WRITE = "cannot-write"  # the export's output cannot be written
    OUTPUT_CLOSED = "output-closed"  # the reader of the output went away (a closed pipe)
    NOT_AN_ARCHIVE_NAME = "not-an-archive-name"  # an archive's name must end in .tar...
    NO_FOLDER = "no-folder"  # the output's folder does not exist
    PLAN_CHANGED = "plan-changed"  # the file or the target changed since the plan: a new plan
    ANONYMIZE_KEY_MISSING = "anonymize-key-missing"  # an anonymized export without its key
    # a row's natural key belongs to another row of the target, which matching by natural
    # key would take: match="natural"
    NATURAL_KEY_HELD = "natural-key-held"
    CHANGED_SINCE = "changed-since"  # a revert refused: rows changed since the import


class DataTransferError(Exception):
    """An expected failure: bad input, a bad option or an unreachable database.

    `exit_code` is the status the command line exits with; `code` (a Code, or None) says
    what the error is about, for the caller's hint (a class default, or given).
    """

    exit_code = EXIT_REFUSED
    code: Code | None = None

    def __init__(self, *args, code: Code | None = None):
        super().__init__(*args)
        if code is not None:
            self.code = code


class GraphError(DataTransferError):
    """The models' foreign keys cannot be put in an order (a cycle with no nullable link)."""


class FileFormatError(DataTransferError):
    """The file is missing, not JSON, cut short, or not shaped like a domain export."""


class VerificationError(FileFormatError):
    """The file cannot be trusted as it is: its rows do not match its manifest, a format
    2 file has no manifest (or a damaged one), or its format version is not one this tool
    reads. The command line can load it anyway when told to."""

    code = Code.NOT_VERIFIED


class SignatureError(FileFormatError):
    """A signing key is set and the file is not signed with it (unsigned, or its signature
    does not match), or its rows do not match its signed manifest (altered after signing):
    nothing can lift it."""

    code = Code.SIGNATURE


class FileChangedError(FileFormatError):
    """The file's bytes changed between two reads of one import (rewritten in place)."""


class UnknownTableError(FileFormatError):
    """The file names a table (or a field) that the target's models do not have."""

    code = Code.UNKNOWN_NAMES


class DatabaseUnavailableError(DataTransferError):
    """The database alias is not configured or does not accept connections."""


class StrictModeFailure(DataTransferError):
    """A row failed in a strict import: the whole import was rolled back."""

    code = Code.STRICT
    exit_code = EXIT_ROWS_FAILED


class Interrupted(DataTransferError):
    """A Ctrl-C came when part of the work was already done for good (an archive's files,
    after the database committed); the message says what. A SIGTERM or SIGHUP there sets
    its own `exit_code` (143, 129)."""

    exit_code = 130


class Terminated(SystemExit):
    """A command got SIGTERM or SIGHUP (its code: 128 + the signal): a SystemExit, so that
    what cleans up on a stopped process runs (psycopg cancels the running query,
    transactions roll back, temporary files go, the history records the run interrupted),
    and nothing catching Exception stops it on the way."""


class LockTimeoutError(DataTransferError):
    """Another session held a lock the import needed for longer than the lock timeout; the
    import was rolled back."""

    code = Code.LOCK_TIMEOUT


class ImportLockedError(DataTransferError):
    """Another import into the same database holds the import lock."""

    code = Code.IMPORT_LOCKED


class SchemaMismatchError(DataTransferError):
    """The database lacks the domain's tables, columns, types or enum labels, or has ones
    the models do not know."""


class PlanError(DataTransferError):
    """A plan (plans.py) that cannot be applied as it is: a file that is not a plan (or a
    broken one), or a plan made for another database. Nothing was written."""


class PlanChangedError(DataTransferError):
    """The file, or target rows that a plan depends on, changed since the plan was made:
    its apply was rolled back, nothing was written."""

    code = Code.PLAN_CHANGED
    exit_code = EXIT_PLAN_CHANGED


class RevertRefused(DataTransferError):
    """A revert refused: rows the import wrote changed (or went) since, or rows outside the
    import link to rows it added; nothing was written."""

    code = Code.CHANGED_SINCE
    exit_code = EXIT_CHANGED_SINCE
