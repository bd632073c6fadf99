"""What follows an import without changing it: the undo journal (journal.py), the plan
(plans.py), the prune's record of the file's ids (prune.py)."""


class ImportObserver:
    """What follows an import without changing it (the undo journal, the plan): told when
    the transaction began (`started`), given each table's rows on their way to the writer
    (`table_rows` returns them, in the same order), told each row's outcome through the
    report's listeners, and asked last, inside the transaction (`before_commit`): raising
    a DataTransferError there rolls the whole import back.

    An observer with `reads_images` is handed the images of the target's rows
    (rowimages.py) before the writer can change them: `images_before(table, ids, images)`
    for each chunk of the file's rows, `rows_deleting(table, ids, images)` for each chunk
    of the rows the prune is about to delete. The job reads each chunk once, whatever the
    number of observers that want it."""

    reads_images = False

    def started(self, job, report) -> None:
        """The transaction began: `job.connection` is open, `report` will be filled."""

    def table_rows(self, table, rows):
        return rows

    def images_before(self, table, ids, images) -> None:
        """With `reads_images`: {pk: image} of the target's rows among the file's `ids`
        (those it lacks are left out), read before the writer saw any of them."""

    def rows_deleting(self, table, ids, images) -> None:
        """With `reads_images`: the prune is about to delete `table`'s rows `ids`, whose
        images are `images`."""

    def before_commit(self, report) -> None:
        """Every row is written (or, in a dry run, about to be rolled back)."""

    # rows_appended(table, ids): define it to be told the new ids of the rows appended to an
    # append-only table, once written (the writer then reads them back: the undo journal)
    rows_appended = None
