"""The ids a PostgreSQL sequence would give next, read without moving it: what a dry run
writes an append-only table's new rows under (nextval and setval are not undone by a
rollback, and a dry run must leave the target as it found it)."""


def _sequence(cursor, connection, model):
    """(the sequence behind `model`'s primary key or None, and the id past the largest
    when there is none)."""
    quote = connection.ops.quote_name
    meta = model._meta
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(meta.db_table), meta.pk.column])
    (sequence,) = cursor.fetchone()
    if sequence is not None:
        return sequence, None
    cursor.execute(f"SELECT max({quote(meta.pk.column)}) FROM {quote(meta.db_table)}")
    return None, (cursor.fetchone()[0] or 0) + 1


class SequenceIds:
    """The next ids of `model`'s primary key sequence, taken one by one with `take()`."""

    def __init__(self, connection, model):
        with connection.cursor() as cursor:
            sequence, past = _sequence(cursor, connection, model)
            if sequence is None:  # no sequence behind the key: past the largest id
                self.next, self.step = past, 1
                return
            cursor.execute(
                "SELECT seqincrement FROM pg_sequence WHERE seqrelid = %s::regclass", [sequence]
            )
            (self.step,) = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last, called = cursor.fetchone()
        self.next = last + self.step if called else last

    def take(self) -> int:
        value, self.next = self.next, self.next + self.step
        return value


def next_values(connection, model, count: int) -> list:
    """`count` new ids of `model` taken from its primary key's sequence (moving it, as an
    insert would); past the largest id when no sequence is behind the key."""
    with connection.cursor() as cursor:
        sequence, past = _sequence(cursor, connection, model)
        if sequence is None:
            return list(range(past, past + count))
        cursor.execute(
            "SELECT nextval(%s) FROM generate_series(1, %s) ORDER BY 1", [sequence, count]
        )
        return [value for (value,) in cursor.fetchall()]
