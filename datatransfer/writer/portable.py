"""The portable backend: what the Writer asks of a database, in plain Django queries, for
any database Django supports (SQLite among them)."""

import contextlib


class PortableBackend:
    """The Writer's database operations through the ORM; no fast path of its own: every
    row goes through the Writer's walk. A backend for another database subclasses it and
    replaces what that database does faster (postgres.PostgresBackend)."""

    def __init__(self, writer):
        self.writer = writer
        self.connection = writer.connection

    @contextlib.contextmanager
    def fast_path(self, table, raw_rows, on_rows):
        """Write what this backend writes itself of the table's rows; yield (the rows left
        to the Writer's walk, in file order, and the progress callback for them)."""
        yield raw_rows, on_rows

    def existing(self, model, values) -> set:
        """The primary keys among `values` that the database holds (one query)."""
        if not values:
            return set()
        return set(self.writer.manager(model).filter(pk__in=values).values_list("pk", flat=True))

    def insert(self, table, rows: list, *, fields=None) -> list:
        """Insert `rows` (model values); `fields`, the columns they set, is a hint that a
        bulk path may use (here every field is written, absent ones by their default).
        Return their ids, where the database tells them (SQLite and PostgreSQL do)."""
        made = self.writer.manager(table.model).bulk_create(
            [table.model(**values) for values in rows], batch_size=self.writer.batch_size
        )
        return [instance.pk for instance in made]

    def new_ids(self, table, rows: list) -> list:
        """`rows` (model values without their id) ready to be appended: here the database
        gives their ids as it inserts them."""
        return rows
