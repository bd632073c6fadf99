"""The tests' shorthand for an import: the product's callers (loaddomain, the admin's
tasks) build an ImportOptions and run an ImportJob themselves."""

from datatransfer.importer import ImportJob, ImportOptions


def import_domain(path, *, on_table=None, **options):
    """Import the file or archive at `path` with the ImportOptions of keyword `options`;
    return the ImportReport."""
    return ImportJob(ImportOptions(**options), on_table=on_table).run(path)
