import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from core.models import Abonnement, BlockchainBlock, DocumentPartage, Organization
from datatransfer.formats.json.writer import ExportWriter
from datatransfer.formats.rows import RowError, decode_row, decode_value, encode_value
from datatransfer.registry import tables_by_key

UTC = dt.UTC


def field(model, name):
    return model._meta.get_field(name)


def test_times_are_utc_iso_with_milliseconds_or_microseconds_when_needed():
    created = field(Organization, "created_at")
    paris = dt.timezone(dt.timedelta(hours=1))
    assert (
        encode_value(created, dt.datetime(2025, 1, 15, 11, 30, tzinfo=paris))
        == "2025-01-15T10:30:00.000Z"
    )
    assert (
        encode_value(created, dt.datetime(2025, 1, 15, 10, 30, 0, 412000, tzinfo=UTC))
        == "2025-01-15T10:30:00.412Z"
    )
    assert (
        encode_value(created, dt.datetime(2025, 1, 15, 10, 30, 0, 412345, tzinfo=UTC))
        == "2025-01-15T10:30:00.412345Z"
    )


def test_dates_decimals_and_big_integers_are_spelled_as_the_old_tool_reads_them():
    assert (
        encode_value(field(Abonnement, "start_date"), dt.date(2025, 1, 1))
        == "2025-01-01T00:00:00.000Z"
    )
    assert encode_value(field(Abonnement, "price"), Decimal("15000")) == "15000.00"
    assert encode_value(field(BlockchainBlock, "nonce"), 2**62) == "4611686018427387904"


@pytest.mark.parametrize(
    ("model", "name", "raw", "expected"),
    [
        (Abonnement, "start_date", "2025-01-01T00:00:00.000Z", dt.date(2025, 1, 1)),
        (Abonnement, "start_date", "2025-01-01", dt.date(2025, 1, 1)),
        (Abonnement, "price", "15000.00", Decimal("15000.00")),
        (Abonnement, "price", 12.5, Decimal("12.50")),
        (BlockchainBlock, "nonce", "9007199254740993", 9007199254740993),
        (BlockchainBlock, "nonce", 42, 42),
        (
            Organization,
            "created_at",
            "2025-01-15T10:30:00.412Z",
            dt.datetime(2025, 1, 15, 10, 30, 0, 412000, tzinfo=UTC),
        ),
        (BlockchainBlock, "data", {"a": [1, "é"]}, {"a": [1, "é"]}),
    ],
)
def test_values_of_both_formats_are_read(model, name, raw, expected):
    assert decode_value(field(model, name), raw) == expected


@pytest.mark.parametrize(
    ("model", "name", "raw", "reason"),
    [
        (Organization, "slug", "x" * 201, "longer than 200"),
        (Organization, "type", "CASTLE", "not one of"),
        (Organization, "name", None, "null is not allowed"),
        (Abonnement, "price", "12345678901.00", "digits before the point"),
        (Abonnement, "price", "1.005", "decimal places"),
        (Abonnement, "price", "abc", "not a decimal"),
        (BlockchainBlock, "nonce", 2**63, "out of range"),
        (BlockchainBlock, "index", True, "expected an integer"),
        (Organization, "is_active", "yes", "expected true or false"),
        (Organization, "created_at", "yesterday", "Invalid isoformat"),
    ],
)
def test_values_that_do_not_fit_their_column_are_refused(model, name, raw, reason):
    with pytest.raises((ValueError, TypeError), match=reason):
        decode_value(field(model, name), raw)


def test_a_row_error_names_the_field_and_the_value():
    table = tables_by_key()["documentPartages"]
    with pytest.raises(RowError, match=r'fileSize "huge": expected an integer'):
        decode_row(table, {"id": "c1", "fileSize": "huge"})
    with pytest.raises(RowError, match="id is missing"):
        decode_row(table, {"type": "DIPLOME"})


def test_the_writer_lays_out_files_as_json_stringify_with_two_spaces():
    data = {"a": [{"id": "x", "nested": {"k": ["é", 1]}}, {"id": "y"}], "b": []}
    for indent in (2, None):
        stream = io.StringIO()
        writer = ExportWriter(stream, indent=indent)
        for key, rows in data.items():
            writer.begin_table(key)
            for row in rows:
                writer.write_row(row)
            writer.end_table()
        writer.finish({"version": "2.0"})
        document = json.loads(stream.getvalue())
        assert document["data"] == data
        assert list(document["metadata"]["manifest"]["tables"]) == ["a", "b"]
        if indent:
            assert stream.getvalue() == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        else:
            assert (
                stream.getvalue()
                == json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
            )


def test_a_document_row_round_trips_through_the_file_spelling():
    table = tables_by_key()["documentPartages"]
    raw = {
        "id": "ckdocu0000000000000000001",
        "demandePartageId": "ckdema0000000000000000001",
        "ownerOrgId": "ckorga0000000000000000001",
        "type": "DIPLOME",
        "dateObtention": "2024-07-01T00:00:00.000Z",
        "fileSize": "2483921",
        "encryptedAt": "2025-01-15T10:31:00.123Z",
    }
    row = decode_row(table, raw)
    assert row.values["owner_org_id"] == "ckorga0000000000000000001"
    encoded = {
        s.key: encode_value(s.field, row.values[s.attname])
        for s in table.fields
        if s.attname in row.values
    }
    assert encoded == raw
    assert DocumentPartage._meta.get_field("file_size").get_internal_type() == "BigIntegerField"
    # TIMESTAMP(3): a time with microseconds is read at the column's precision.
    finer = decode_row(table, {**raw, "encryptedAt": "2025-01-15T10:31:00.123999Z"})
    assert finer.values["encrypted_at"] == row.values["encrypted_at"]


def _read_all(reader):
    with reader:
        return reader.metadata, [(key, list(rows)) for key, rows in reader.tables()]


def test_the_fast_reader_reads_exactly_what_the_generic_reader_reads(node_file, tmp_path):
    from datatransfer.formats.json.reader import ExportReader, LayoutReader

    assert _read_all(LayoutReader(node_file)) == _read_all(ExportReader(node_file))


def test_a_file_in_another_layout_is_left_to_the_generic_reader(node_file, tmp_path):
    from datatransfer.formats.json.reader import (
        ExportReader,
        JsonReader,
        LayoutMismatch,
        LayoutReader,
    )

    document = json.loads(open(node_file, encoding="utf-8").read())
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(document), encoding="utf-8")
    windows = tmp_path / "windows.json"
    windows.write_bytes(open(node_file, "rb").read().replace(b"\n", b"\r\n"))
    cut = tmp_path / "cut.json"
    cut.write_bytes(open(node_file, "rb").read()[:-40])
    with JsonReader(str(compact)) as reader:
        assert isinstance(reader._reader, ExportReader)
    for path in (windows, cut):
        with pytest.raises(LayoutMismatch), LayoutReader(str(path)) as reader:
            for _, rows in reader.tables():
                list(rows)
    assert _read_all(ExportReader(str(windows))) == _read_all(ExportReader(node_file))


@pytest.mark.parametrize("indent", [2, None])
def test_rows_are_spelled_as_the_standard_library_spells_them(indent):
    row = {
        "text": 'Élodie \U0001f393 \u2028 tab\t nul\x01 "q" \\',
        "n": [1, -2, 3.5, True, None],
        "huge": 2**70,
        "nested": {"é": {"deeper": []}},
    }
    stream = io.StringIO()
    writer = ExportWriter(stream, indent=indent)
    writer.begin_table("t")
    writer.write_row(row)
    writer.end_table()
    writer.finish({})
    expected = (
        json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n      ")
        if indent
        else json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    )
    assert expected in stream.getvalue()
    assert json.loads(stream.getvalue())["data"]["t"] == [row]


@pytest.mark.parametrize("indent", [2, 4, None])
def test_a_file_written_to_a_byte_stream_is_the_text_written_to_a_text_stream(indent):
    """The rows wait as bytes and go to a UTF-8 stream's bytes as they are; a stream of
    another encoding, or of text only, gets them as text: the same file either way."""
    rows = [{"id": "é\U0001f393", "huge": 2**70, "nested": {"k": ["\u2028", 1.5]}}, {"id": "x"}]

    def written(stream):
        writer = ExportWriter(stream, indent=indent)
        for key in ("a", "b"):
            writer.begin_table(key)
            for row in rows:
                writer.write_row(row)
            writer.end_table()
        writer.finish({"version": "2.0", "note": "métadonnées"})
        stream.flush()
        return stream

    text = written(io.StringIO()).getvalue()
    utf8 = written(io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n"))
    assert utf8.buffer.getvalue() == text.encode()
    utf16 = written(io.TextIOWrapper(io.BytesIO(), encoding="utf-16-le", newline="\n"))
    assert utf16.buffer.getvalue() == text.encode("utf-16-le")
