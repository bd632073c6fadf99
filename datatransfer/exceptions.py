"""Errors of the export and import engines; the commands turn them into one-line messages."""


class DataTransferError(Exception):
    """An expected failure: bad input, a bad option or an unreachable database.

    `exit_code` is the status the command line exits with.
    """

    exit_code = 2


class GraphError(DataTransferError):
    """The models' foreign keys cannot be put in an order (a cycle with no nullable link)."""


class FileFormatError(DataTransferError):
    """The file is missing, not JSON, cut short, or not shaped like a domain export."""


class UnknownTableError(FileFormatError):
    """The file names a table (or a field) that the target's models do not have."""


class DatabaseUnavailableError(DataTransferError):
    """The database alias is not configured or does not accept connections."""


class StrictModeFailure(DataTransferError):
    """A row failed under `--strict`: the whole import was rolled back."""

    exit_code = 1


class ImportLockedError(DataTransferError):
    """Another import into the same database holds the import lock."""


class SchemaMismatchError(DataTransferError):
    """The database lacks the domain's tables, columns, types or enum labels, or has ones
    the models do not know."""
