"""Hostile shapes and sizes of an export file (issue 20, points 1 and 3): integers of
thousands of digits (they crashed the C parser behind the reader), values of megabytes
(parsed in quadratic time), decompression bombs, and a fuzz test over the reader.

The crashes were segfaults, which would take the test session down with them: the
commands run as real processes here."""

import copy
import gzip
import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.models import Configuration, ContactMessage
from datatransfer.exceptions import EXIT_REFUSED, FileFormatError
from datatransfer.formats import open_reader
from datatransfer.formats.json.codec import MAX_INTEGER_DIGITS
from tests.integration.datatransfer.test_safety import (
    DOCUMENT,
    assert_refused_without_a_write,
    load_and_roll_back,
)
from tests.snapshots import database_snapshot
from tests.subprocesses import ROOT, database_url, run_manage

BIG = "@@BIG@@"  # where a long number goes: json.dumps itself refuses one past 4,300 digits


def spelled(document, number: str = "", *, indent=None) -> bytes:
    """The file of `document`, the string BIG (quoted) replaced by the JSON `number`."""
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return text.replace(json.dumps(BIG), number).encode()


def node_with(change) -> dict:
    document = copy.deepcopy(DOCUMENT)
    change(document)
    return document


def _json_column(document):
    document["data"]["configurations"][0]["value"] = BIG


def _nested_json(document):
    document["data"]["payments"][0]["metadata"] = {"a": [{"b": [BIG]}]}


def _metadata(document):
    document["metadata"]["note"] = BIG


def _decimal_column(document):
    document["data"]["abonnements"][0]["price"] = BIG


DIGITS = "7" * 5000


def assert_one_line_status(process, status):
    """Exit `status`, no traceback, and a one-line message when it is not 0."""
    assert process.returncode == status, (process.returncode, process.stderr[-2000:])
    assert "Traceback" not in process.stderr
    if status:
        assert len(process.stderr.strip().splitlines()) == 1, process.stderr


# ---------------------------------------------------------------------------- point 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("change", "number", "indent", "status"),
    [
        (_json_column, DIGITS, None, 0),  # the fallback reader: one line
        (_json_column, DIGITS, 2, 0),  # the tools' layout
        (_json_column, "-" + DIGITS, 2, 0),
        (_nested_json, DIGITS, None, 0),
        (_nested_json, "-" + DIGITS, 2, 0),
        (_metadata, DIGITS, 2, 0),
        (_decimal_column, DIGITS, 2, 1),  # a row that fails, in one line
        (_decimal_column, DIGITS + ".5", None, 1),
        (_json_column, "1" + "0" * MAX_INTEGER_DIGITS, None, EXIT_REFUSED),
        (_json_column, "1" + "0" * MAX_INTEGER_DIGITS, 2, EXIT_REFUSED),
        (_json_column, "1e99999999999999999999999", None, EXIT_REFUSED),
    ],
)
def test_a_long_integer_never_crashes_the_dry_run(
    make_database, tmp_path, change, number, indent, status
):
    target = make_database("sqlite")
    path = tmp_path / "long.json"
    path.write_bytes(spelled(node_with(change), number, indent=indent))
    env = {"DATABASE_URL_SAFETY": database_url(target)}
    process = run_manage("loaddomain", str(path), "--database", "safety", "--dry-run", env=env)
    assert_one_line_status(process, status)
    if status == EXIT_REFUSED:
        assert "digits" in process.stderr or "number" in process.stderr, process.stderr
    assert not any(database_snapshot(target).values())


@pytest.mark.e2e
def test_verifydomain_and_standard_input_read_a_long_integer(make_database, tmp_path):
    target = make_database("sqlite")
    env = {"DATABASE_URL_SAFETY": database_url(target)}
    data = spelled(node_with(_json_column), DIGITS)
    path = tmp_path / "long.json.gz"
    path.write_bytes(gzip.compress(data))
    verify = run_manage("verifydomain", str(path), "--database", "safety", env=env)
    assert_one_line_status(verify, 1)  # the empty database differs from the file
    loaded = subprocess.run(
        [sys.executable, "manage.py", "loaddomain", "-", "--database", "safety", "--dry-run"],
        input=data,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]


def _raw_json_value(alias, key) -> str:
    """The JSON column's text as the database holds it (Python's int() is not involved)."""
    table = Configuration._meta.db_table
    with connections[alias].cursor() as cursor:
        cast = "::text" if connections[alias].vendor == "postgresql" else ""
        cursor.execute(f'SELECT "value"{cast} FROM "{table}" WHERE "key" = %s', [key])
        return cursor.fetchone()[0]


@pytest.mark.e2e
@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_json_column_with_a_long_integer_is_exported_and_loaded_exactly(
    make_database, tmp_path, vendor
):
    source, target = make_database(vendor), make_database(vendor)
    Configuration.objects.using(source).create(key="big", value=0)
    number = "-" + DIGITS
    with connections[source].cursor() as cursor:
        table = Configuration._meta.db_table
        cast = "::jsonb" if vendor == "postgresql" else ""
        cursor.execute(
            f'UPDATE "{table}" SET "value" = %s{cast} WHERE "key" = %s',
            [f'{{"n": [{number}]}}', "big"],
        )
    path = tmp_path / "export.json"
    dump = run_manage(
        "dumpdomain", str(path), "-v", "0", env={"DATABASE_URL": database_url(source)}
    )
    assert_one_line_status(dump, 0)
    env = {"DATABASE_URL_SAFETY": database_url(target)}
    load = run_manage("loaddomain", "--no-input", str(path), "--database", "safety", env=env)
    assert_one_line_status(load, 0)
    assert _raw_json_value(target, "big").replace(" ", "") == f'{{"n":[{number}]}}'


# ---------------------------------------------------------------------------- point 3


def _message_of(size: int) -> dict:
    document = copy.deepcopy(DOCUMENT)
    document["data"]["contactMessages"][0]["message"] = "é" + "a" * (size - 2)
    return document


def read_all(path):
    """Read every row of the file as the commands do (the fast reader first, the other
    where the layout is not the tools' own). Return the rows."""
    with open_reader(str(path), any_version=True) as reader:
        return [row for _, rows in reader.tables() for row in rows]


@pytest.mark.parametrize("indent", [None, 2])
def test_a_value_of_several_megabytes_is_read_whole(tmp_path, indent):
    path = tmp_path / "long.json"
    size = 3 << 20
    path.write_bytes(spelled(_message_of(size), indent=indent))
    messages = [row["message"] for row in read_all(path) if "message" in row]
    assert len(messages[0]) == size - 1


def test_values_of_exactly_the_limit_are_read_whole(tmp_path, settings):
    """The limit is on one value's size, as documented ("longer than" it is refused): not on
    how far past its end the reads that find it go (more of the file follows it here)."""
    limit = settings.DATATRANSFER_MAX_VALUE_BYTES = 1 << 20
    document = _message_of(limit)
    [first] = document["data"]["contactMessages"]
    document["data"]["contactMessages"].append({**first, "id": first["id"] + "2"})
    path = tmp_path / "long.json"
    path.write_bytes(spelled(document, indent=2))
    messages = [row["message"] for row in read_all(path) if "message" in row]
    assert [len(message.encode()) for message in messages] == [limit, limit]


def test_a_value_a_little_over_the_limit_is_refused_whatever_follows(tmp_path, settings):
    """Not only when the reads happen to stop inside it: 64 KiB over, more of the file
    after it (a 66 MiB value under the 64 MiB limit was read)."""
    limit = settings.DATATRANSFER_MAX_VALUE_BYTES = 1 << 20
    document = _message_of(limit + (64 << 10))
    [first] = document["data"]["contactMessages"]
    document["data"]["contactMessages"].append({**first, "id": first["id"] + "2"})
    path = tmp_path / "long.json"
    path.write_bytes(spelled(document, indent=2))
    with pytest.raises(FileFormatError) as refused:
        read_all(path)
    assert "DATATRANSFER_MAX_VALUE_MB" in str(refused.value)


@pytest.mark.django_db(databases=["default", "platform"])
def test_a_value_over_the_limit_is_refused_in_one_line_and_nothing_written(tmp_path, settings):
    settings.DATATRANSFER_MAX_VALUE_BYTES = 1 << 20
    path = tmp_path / "long.json"
    path.write_bytes(spelled(_message_of(2 << 20), indent=2))
    status, message, written = load_and_roll_back(path)
    assert_refused_without_a_write(status, message, written)
    assert status == EXIT_REFUSED
    assert "DATATRANSFER_MAX_VALUE_MB" in message and "1.0 MB" in message, message


def _bomb(path, size: int) -> None:
    """A gzip file of about size / 1,000 bytes holding one string of `size` bytes (a
    multiple of 64 MiB): gzip members one after the other, their bytes one stream."""
    head, tail = spelled(_message_of(8)).split("éaaaaaa".encode())
    block = gzip.compress(b"a" * (64 << 20), compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(head, mtime=0))
        for _ in range(size >> 26):
            out.write(block)
        out.write(gzip.compress(tail, mtime=0))


def test_a_decompression_bomb_is_refused_at_the_limit_not_read_to_its_end(tmp_path, settings):
    settings.DATATRANSFER_MAX_VALUE_BYTES = 1 << 20
    path = tmp_path / "bomb.json.gz"
    _bomb(path, 1 << 30)
    size = path.stat().st_size
    with pytest.raises(FileFormatError) as refused:
        with open_reader(str(path), any_version=True) as reader:
            for _, rows in reader.tables():
                for _ in rows:
                    pass
    assert "DATATRANSFER_MAX_VALUE_MB" in str(refused.value)
    assert "\n" not in str(refused.value)
    # The compressed bytes it read before refusing: one buffer of the file's megabyte.
    assert reader._reader._read._position < size // 3


@pytest.mark.e2e
def test_a_bomb_of_1500_mib_ends_at_once_with_the_status_of_a_bad_file(make_database, tmp_path):
    """The attack of the issue: a 1.5 MB gzip of one 1,500 MiB string ran for hours.
    The timeout is only a guard against a hang."""
    target = make_database("sqlite")
    path = tmp_path / "bomb.json.gz"
    _bomb(path, 1500 << 20)
    env = {"DATABASE_URL_SAFETY": database_url(target)}
    process = run_manage(
        "loaddomain", str(path), "--database", "safety", "--dry-run", env=env, timeout=120
    )
    assert_one_line_status(process, EXIT_REFUSED)
    assert "DATATRANSFER_MAX_VALUE_MB" in process.stderr


@pytest.mark.e2e
def test_a_long_value_is_read_in_linear_time(tmp_path):
    """A 24 MiB value took over a minute (quadratic: 28 s for 16 MiB); linear, it takes
    about a second. The timeout is only a guard against that minute."""
    path = tmp_path / "long.json"
    path.write_bytes(spelled(_message_of(24 << 20)))
    script = (
        "import django, sys; django.setup();"
        "from tests.e2e.datatransfer.test_hardening_parser import read_all;"
        "print(len(read_all(sys.argv[1])))"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert process.returncode == 0, process.stderr[-2000:]


# ---------------------------------------------------------------------------- fuzz

FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBERS = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "-" + "1" * n),
    st.sampled_from(
        [
            "1" + "0" * MAX_INTEGER_DIGITS,
            "1e99999999999999999999999",
            "-1E-99999999999999999999",
            "0." + "3" * 5000,
            "1" * 5000 + "e5",
            "1e400",
            "-0",
        ]
    ),
)
STRINGS = st.one_of(
    st.text(max_size=30).map(json.dumps),
    st.integers(0, 3 << 19).map(lambda n: json.dumps("x" * n)),
    st.integers(0, 5000).map(lambda n: '"' + "\\\\" * n + '"'),
    st.integers(0, 5000).map(lambda n: '"' + "\\u00e9" * n + '"'),
    st.integers(4000, 6000).map(lambda n: '"' + "7" * n + '"'),
)


@st.composite
def hostile_values(draw) -> str:
    """One JSON text (maybe broken): a long number, a long string, deep nesting, a key
    that repeats."""
    kind = draw(st.sampled_from(["number", "string", "deep", "repeated"]))
    if kind == "number":
        return draw(NUMBERS)
    if kind == "string":
        return draw(STRINGS)
    if kind == "deep":
        depth = draw(st.integers(1, 200))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return opener * depth + draw(NUMBERS | STRINGS) + closer * depth
    key = json.dumps(draw(st.text(max_size=5)))
    return "{" + key + ":1," + key + ":" + draw(NUMBERS | STRINGS) + "}"


@st.composite
def hostile_files(draw) -> bytes:
    """An export file with a hostile value in a row, a JSON column or the metadata, laid
    out as the tools write it or on one line, maybe cut short, garbled or gzipped."""
    place = draw(st.sampled_from([_json_column, _nested_json, _metadata, _decimal_column]))
    data = spelled(
        node_with(place), draw(hostile_values()), indent=draw(st.sampled_from([None, 2]))
    )
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=0, max_size=4)) + data[at + 1 :]
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(data=hostile_files(), compressed=st.booleans())
@example(data=spelled(node_with(_json_column), "9" * 4301), compressed=False)
@example(data=spelled(node_with(_metadata), "-" + "9" * 4301, indent=2), compressed=True)
@example(data=spelled(_message_of(2 << 20)), compressed=True)
def test_the_reader_yields_rows_or_a_one_line_file_error(tmp_path_factory, data, compressed):
    """The property: the reader reads the rows, or raises FileFormatError in one line;
    nothing else (a crash, a traceback, an endless read)."""
    path = tmp_path_factory.mktemp("fuzz") / ("f.json.gz" if compressed else "f.json")
    path.write_bytes(gzip.compress(data, compresslevel=1) if compressed else data)
    try:
        read_all(path)
    except FileFormatError as error:
        assert str(error) and "\n" not in str(error), str(error)


@pytest.mark.e2e
def test_the_reader_refuses_what_crashed_it_in_a_corpus_of_hostile_files(tmp_path):
    """Each in its own process: a crash there fails this test instead of ending the run."""
    corpus = {
        "integer-in-row.json": spelled(node_with(_json_column), "9" * 4301),
        "integer-in-metadata.json": spelled(node_with(_metadata), "-" + "9" * 100000, indent=2),
        "integer-deep.json": spelled(node_with(_nested_json), "9" * 50000),
        "integer-too-long.json.gz": gzip.compress(
            spelled(node_with(_json_column), "9" * (10 << 20))
        ),
    }
    for name, content in corpus.items():
        (tmp_path / name).write_bytes(content)
    script = (
        "import django, sys; django.setup();"
        "from datatransfer.exceptions import FileFormatError;"
        "from tests.e2e.datatransfer.test_hardening_parser import read_all\n"
        "try: read_all(sys.argv[1]); print('read')\n"
        "except FileFormatError as e: print('refused', e)"
    )
    for name in corpus:
        process = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / name)],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert process.returncode == 0, (name, process.returncode, process.stderr[-2000:])
        expected = "refused" if "too-long" in name else "read"
        assert process.stdout.startswith(expected), (name, process.stdout[:300])


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_an_export_never_writes_a_value_its_own_import_would_refuse(
    make_database, tmp_path, settings, vendor
):
    """A text of 600,000 newlines is 1.2 MB as the file spells it (`\\n`): with a 1 MB
    limit, loaddomain would refuse the file, so dumpdomain refuses to write it, naming the
    row and the field, and leaves no file."""
    settings.DATATRANSFER_MAX_VALUE_BYTES = 1 << 20
    source = make_database(vendor)
    message = ContactMessage.objects.using(source).create(
        name="A", email="a@example.invalid", message="\n" * 600_000
    )
    exports = tmp_path / "exports"
    exports.mkdir()
    with pytest.raises(CommandError) as refused:
        call_command(
            "dumpdomain", str(exports / "export.json"), "--database", source, stdout=io.StringIO()
        )
    assert refused.value.returncode == 2
    text = str(refused.value)
    assert "\n" not in text and f"contactMessages {message.pk}: message" in text
    assert "DATATRANSFER_MAX_VALUE_MB" in text
    assert list(exports.iterdir()) == []
