"""Formats are plug-ins behind a registry (datatransfer/formats/): a second, tiny format
registered from tests/ (literal_format.py) goes through dumpdomain, loaddomain and
verifydomain as JSON does, and its manifest is JSON's, row for row."""

import io
import json

import pytest
from django.core.management import call_command

from datatransfer.formats import (
    format_for_path,
    get_format,
    output_suffixes,
    register_format,
    unregister_format,
)
from tests.snapshots import database_snapshot


@pytest.fixture
def literal_format():
    register_format("literal", "tests.integration.datatransfer.literal_format")
    yield get_format("literal")
    unregister_format("literal")


def test_the_json_format_is_the_default_and_a_file_s_name_picks_its_format(literal_format):
    assert get_format().name == "json" and get_format().member_name == "export.json"
    assert format_for_path("exports/a.json.gz").name == "json"
    assert format_for_path("exports/a.lit") is literal_format
    assert format_for_path("standard input").name == "json"
    assert ".lit" in output_suffixes() and ".json.xz" in output_suffixes()


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_format_registered_from_the_tests_round_trips_through_the_commands(
    make_database, tmp_path, literal_format, vendor
):
    source, target = make_database(vendor), make_database(vendor)
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    literal, as_json = tmp_path / "demo.lit", tmp_path / "demo.json"
    for path in (literal, as_json):
        call_command("dumpdomain", str(path), "--database", source, stdout=io.StringIO())
    assert literal.read_text(encoding="utf-8").startswith("{'format': 'domain-export'")
    out = io.StringIO()
    call_command("loaddomain", "--no-input", str(literal), "--database", target, stdout=out)
    assert "Loaded" in out.getvalue() or "into" in out.getvalue()
    assert database_snapshot(target) == database_snapshot(source)
    call_command("verifydomain", str(literal), "--database", target, stdout=io.StringIO())
    # The checksums are of the rows, whatever spells them: the JSON file's manifest is the same.
    metadata = json.loads(as_json.read_text(encoding="utf-8"))["metadata"]
    with literal_format.reader(str(literal)) as reader:
        assert reader.metadata["manifest"]["tables"] == metadata["manifest"]["tables"]
        assert sum(len(list(rows)) for _, rows in reader.tables()) == sum(
            metadata["tables"].values()
        )


def _all_rows(reader):
    with reader:
        return reader.metadata, [(key, list(rows)) for key, rows in reader.tables()]


@pytest.mark.parametrize("dropped", [False, True])
def test_the_json_reader_hands_over_to_the_generic_reader_in_the_middle_of_a_table(
    node_file, tmp_path, dropped
):
    """Past the middle of a table the layout changes (Windows line ends): the fast reader
    has handed out rows already, and the generic one goes on from the next row, once."""
    from datatransfer.formats.json.reader import ExportReader, JsonReader

    data = open(node_file, "rb").read()
    cut = data.index(b"      },\n", len(data) // 2) + len(b"      },\n")
    path = tmp_path / "mixed.json"
    path.write_bytes(data[:cut] + data[cut:].replace(b"\n", b"\r\n"))
    expected = _all_rows(ExportReader(str(path)))
    reader = JsonReader(str(path))
    assert type(reader._reader).__name__ == "LayoutReader"
    if not dropped:
        assert _all_rows(reader) == expected
        assert reader._fast is None, "the generic reader took over"
        return
    with reader:  # each table's rows dropped after the first one: the rest is skipped
        firsts = [(key, next(rows, None)) for key, rows in reader.tables()]
    assert firsts == [(key, rows[0] if rows else None) for key, rows in expected[1]]
