"""The images of target rows: read before the writer sees any row of their chunk."""

from datatransfer.registry import tables_by_key
from datatransfer.rowimages import digest, read_ahead, row_ids


def test_read_ahead_reads_a_chunk_before_yielding_any_of_its_rows():
    table = tables_by_key()["users"]
    rows = [{"id": f"u{n}"} for n in range(5)]
    events = []

    def on_chunk(ids):
        events.append(("read", ids))

    for row in read_ahead(table, rows, on_chunk, size=2):
        events.append(("row", row["id"]))
    assert events == [
        ("read", ["u0", "u1"]),
        ("row", "u0"),
        ("row", "u1"),
        ("read", ["u2", "u3"]),
        ("row", "u2"),
        ("row", "u3"),
        ("read", ["u4"]),
        ("row", "u4"),
    ]


def test_row_ids_leave_out_rows_without_a_usable_id():
    table = tables_by_key()["users"]
    assert row_ids(table, [{"id": "a"}, {}, {"id": None}, {"id": "b"}]) == ["a", "b"]


def test_digest_ignores_key_order_and_sees_any_value():
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1})
    assert digest({"a": 1, "b": [2]}) != digest({"a": 1, "b": [3]})
