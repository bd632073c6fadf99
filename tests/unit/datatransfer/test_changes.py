"""The changes since a time, without a database: which column tells when a row changed
(from the models' metadata), the times accepted, and what a file's head says of a
partial file."""

import datetime as dt
from dataclasses import replace

import pytest
from django.db import models

from datatransfer.changes import parse_since
from datatransfer.exceptions import DataTransferError, FileFormatError
from datatransfer.filecheck import FileHead
from datatransfer.registry import FieldSpec, domain_tables, tables_by_key


def test_each_table_changes_by_updated_at_else_created_at():
    columns = {
        table.key: table.changed_at.key if table.changed_at else None for table in domain_tables()
    }
    assert columns["users"] == "updatedAt"  # not lastLoginAt nor emailVerifiedAt
    assert columns["auditLogs"] == columns["blockchainBlocks"] == "createdAt"
    assert set(columns.values()) == {"updatedAt", "createdAt"}


def stamp(name: str, **options) -> FieldSpec:
    field = models.DateTimeField(**options)
    field.set_attributes_from_name(name)
    return FieldSpec(name, field)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ([stamp("modified", auto_now=True), stamp("updated_at")], "modified"),
        ([stamp("made", auto_now_add=True), stamp("seen_at")], "made"),
        ([stamp("created_at"), stamp("updated_at")], "updated_at"),
        ([stamp("seen_at")], None),  # neither: the table goes whole
    ],
)
def test_the_change_column_comes_from_the_model_metadata(fields, expected):
    table = replace(tables_by_key()["configurations"], fields=tuple(fields))
    assert (table.changed_at.key if table.changed_at else None) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-07T18:00:00Z", dt.datetime(2026, 12, 7, 18, tzinfo=dt.UTC)),
        ("2026-12-07T19:00+01:00", dt.datetime(2026, 12, 7, 18, tzinfo=dt.UTC)),
        ("2026-12-07 18:00:00.250", dt.datetime(2026, 12, 7, 18, 0, 0, 250000, tzinfo=dt.UTC)),
        ("2026-12-07", dt.datetime(2026, 12, 7, tzinfo=dt.UTC)),
    ],
)
def test_a_time_without_an_offset_is_in_the_time_zone_setting_utc(text, expected):
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "now", "07/12/2026", "2026-12-07T18:00Zx\nsecond line"])
def test_anything_else_is_refused_in_one_line(text):
    with pytest.raises(DataTransferError) as refused:
        parse_since(text)
    assert "is not an ISO 8601 time" in str(refused.value)
    assert "\n" not in str(refused.value)


def head(metadata) -> FileHead:
    return FileHead("x.json", metadata, domain_tables())


def test_the_head_tells_a_partial_file():
    partial = {"since": "2026-12-07T18:00:00.000Z", "until": "2026-12-08T18:00:00.000Z"}
    assert head({"partial": partial}).partial == partial
    assert head({}).partial is None  # a whole export, or a subset


@pytest.mark.parametrize("partial", ["yes", ["2026-12-07"], {"since": 1}])
def test_a_malformed_partial_is_refused(partial):
    with pytest.raises(FileFormatError, match="metadata.partial"):
        _ = head({"partial": partial}).partial
