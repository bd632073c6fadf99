"""What follows an import without changing it: the undo journal (journal.py), the plan
(plans.py), the prune's record of the file's ids (prune.py)."""


class ImportObserver:
    """What follows an import without changing it (the undo journal, the plan): told when
    the transaction began (`started`), given each table's rows on their way to the writer
    (`table_rows` returns them, in the same order), told each row's outcome through the
    report's listeners, and asked last, inside the transaction (`before_commit`): raising
    a DataTransferError there rolls the whole import back.

    The hooks below that are None are not called: an observer defines those it needs. The
    images they hand ({pk: image} of the target's rows, those it lacks left out:
    rowimages.py) are read once by the job, whatever the number of observers."""

    def started(self, job, report) -> None:
        """The transaction began: `job.connection` is open, `report` will be filled."""

    def table_rows(self, table, rows):
        return rows

    def before_commit(self, report) -> None:
        """Every row is written (or, in a dry run, about to be rolled back)."""

    # images_before(table, ids, images): the images of each chunk of the file's rows (by
    # their ids), read before the writer sees any of them (the plan's fingerprint)
    images_before = None
    # rows_updating(table, ids, images): the target's rows the writer is about to update,
    # their images read just before (the undo journal)
    rows_updating = None
    # rows_deleting(table, ids, images): the rows the prune is about to delete, their
    # images read just before (the undo journal, the plan)
    rows_deleting = None
    # rows_appended(table, ids): the new ids of the rows appended to an append-only table,
    # once written (the writer then reads them back: the undo journal)
    rows_appended = None
