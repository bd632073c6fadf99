"""What a migration tool must never do: half-write a database or a file, print a traceback
for a bad file, or let two imports into one database run at once.

Property-based tests (hypothesis) corrupt a valid file at random; fault-injection tests
kill a real import on PostgreSQL and break an export half-way.
"""

import copy
import datetime as dt
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, OperationalError, connections, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.models import Abonnement, Configuration, ContactMessage, Organization
from datatransfer.exceptions import ImportLockedError
from datatransfer.locking import LOCK_KEY, import_lock
from datatransfer.management.rendering import error_line
from tests.snapshots import database_snapshot
from tests.subprocesses import database_url

ROOT = Path(__file__).resolve().parents[3]
NODE_FILE = ROOT / "tests" / "data" / "node-export-1.0.json"
VALID = NODE_FILE.read_bytes()
DOCUMENT = json.loads(VALID)
LAST_BRACE = VALID.rindex(b"}")

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------- helpers


def is_empty(snapshot) -> bool:
    return not any(snapshot.values())


def load_and_roll_back(path, using="platform"):
    """Run loaddomain on `path` inside a transaction that is rolled back afterwards, so
    every example starts from the same empty database.

    Return (exit status, error message or None, rows written: whether the database
    differs from before, as seen inside the transaction).
    """
    with transaction.atomic(using=using):
        before = database_snapshot(using)
        assert is_empty(before)
        try:
            call_command(
                "loaddomain",
                "--no-input",
                str(path),
                "--database",
                using,
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
            status, message = 0, None
        except CommandError as error:  # anything else fails the test with its traceback
            status, message = error.returncode, str(error)
        written = database_snapshot(using) != before
        transaction.set_rollback(True, using=using)
    return status, message, written


def assert_refused_without_a_write(status, message, written):
    assert status != 0, "a corrupt file was loaded"
    assert message and "\n" not in message and "Traceback" not in message, message
    assert not written, f"rows were written although the import failed: {message}"


def assert_one_line_outcome(status, message, written):
    """A file that may still be valid data: a normal result, or a one-line error; a
    file-level error (2) never writes, row failures (1) and conflicts (3) may have written
    the good rows."""
    assert status in (0, 1, 2, 3)
    if status:
        assert message and "\n" not in message and "Traceback" not in message, message
    if status == 2:
        assert not written, f"rows were written although the file was refused: {message}"


def manage(*args, env_aliases=None, **kwargs):
    env = {
        **os.environ,
        **{f"DATABASE_URL_{name.upper()}": url for name, url in (env_aliases or {}).items()},
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# ---------------------------------------------------------------------------- malformed files


@pytest.mark.django_db
@FUZZ
@given(cut=st.one_of(st.integers(0, LAST_BRACE - 1), st.integers(LAST_BRACE - 40, LAST_BRACE - 1)))
@example(cut=LAST_BRACE)  # cut after the data, before the final brace
@example(cut=LAST_BRACE - 2)
@example(cut=len(VALID) // 2)
def test_a_truncated_file_is_refused_and_nothing_written(tmp_path, cut):
    path = tmp_path / "cut.json"
    path.write_bytes(VALID[:cut])
    assert_refused_without_a_write(*load_and_roll_back(path))


@pytest.mark.django_db
@FUZZ
@given(cut=st.integers(0, len(gzip.compress(VALID, mtime=0)) - 1))
def test_a_truncated_gzip_file_is_refused_and_nothing_written(tmp_path, cut):
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(VALID, mtime=0)[:cut])
    assert_refused_without_a_write(*load_and_roll_back(path))


def _parses(data: bytes) -> bool:
    """Whether `data` is still JSON, as ijson's yajl reads it: it takes vertical tab and
    form feed for whitespace (a flip of a newline into one leaves the data intact)."""
    try:
        json.loads(data.replace(b"\x0b", b" ").replace(b"\x0c", b" "))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError
        return False
    return True


@pytest.mark.django_db
@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), min_size=1, max_size=4
    )
)
@example(flips=[(LAST_BRACE, ord("}") ^ ord("]"))])  # the very last byte
@example(flips=[(0, ord("{") ^ ord("["))])
def test_a_file_with_flipped_bytes_never_writes_when_it_is_no_longer_json(tmp_path, flips):
    data = bytearray(VALID)
    for position, mask in flips:
        data[position] ^= mask
    path = tmp_path / "flipped.json"
    path.write_bytes(bytes(data))
    outcome = load_and_roll_back(path)
    if _parses(bytes(data)):
        assert_one_line_outcome(*outcome)  # a flip inside a value: still JSON, maybe still valid
    else:
        assert_refused_without_a_write(*outcome)


TABLES = list(DOCUMENT["data"])
ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NOT_A_LIST = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just({"a": 1})
)


@st.composite
def structural_mutations(draw):
    """A document whose shape is wrong somewhere: the whole, a table, or a row."""
    document = copy.deepcopy(DOCUMENT)
    kind = draw(st.sampled_from(["top", "data", "table", "row", "unknown-table", "unknown-field"]))
    table = draw(st.sampled_from(TABLES))
    if kind == "top":
        return draw(
            st.sampled_from(
                [
                    [document],
                    "export",
                    42,
                    None,
                    {"metadata": document["metadata"]},
                    {"data": []},
                    {"metadata": [], "data": document["data"]},
                    {"data": "x"},
                ]
            )
        )
    if kind == "data":
        document["data"] = draw(NOT_A_LIST.filter(lambda v: not isinstance(v, dict)))
    elif kind == "table":
        document["data"][table] = draw(NOT_A_LIST)
    elif kind == "row":
        rows = document["data"][table]
        rows[draw(st.integers(0, len(rows) - 1))] = draw(NOT_A_LIST)
    elif kind == "unknown-table":
        items = list(document["data"].items())
        items.insert(draw(st.integers(0, len(items))), ("notifications", [{"id": "n1"}]))
        document["data"] = dict(items)
    else:
        rows = document["data"][table]
        rows[draw(st.integers(0, len(rows) - 1))]["surnom"] = draw(ANY_JSON)
    return document


def _with(path, value):
    """DOCUMENT with the row value at (table, row number, field key) replaced."""
    document = copy.deepcopy(DOCUMENT)
    table, number, key = path
    document["data"][table][number][key] = value
    return document


@st.composite
def value_mutations(draw):
    """A document of the right shape whose rows lost keys or got values of another type."""
    document = copy.deepcopy(DOCUMENT)
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(TABLES))
        rows = document["data"][table]
        row = rows[draw(st.integers(0, len(rows) - 1))]
        key = draw(st.sampled_from(sorted(row)))
        if draw(st.booleans()):
            del row[key]
        else:
            row[key] = draw(ANY_JSON)
    if draw(st.booleans()):
        document.pop("metadata")
    return document


@pytest.mark.django_db
@FUZZ
@given(document=structural_mutations())
def test_a_file_of_the_wrong_shape_is_refused_and_nothing_written(tmp_path, document):
    path = tmp_path / "shape.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert_refused_without_a_write(*load_and_roll_back(path))


@pytest.mark.django_db
@FUZZ
@given(document=value_mutations())
@example(document=_with(("permissions", 0, "id"), []))  # a key that cannot be looked up
@example(document=_with(("auditLogs", 0, "id"), 2**70))
def test_wrong_values_give_a_result_or_a_one_line_error_never_a_traceback(tmp_path, document):
    path = tmp_path / "values.json"
    # allow_nan: a float NaN or Infinity makes the file invalid JSON, a case worth having too.
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert_one_line_outcome(*load_and_roll_back(path))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("truncated.json", VALID[: len(VALID) // 3]),
        ("flipped.json", VALID[:100] + b"\xff\xfe" + VALID[102:]),
        ("truncated.json.gz", gzip.compress(VALID, mtime=0)[:500]),
        ("shape.json", json.dumps({"metadata": {}, "data": {"users": {"a": 1}}}).encode()),
        (
            "not-rows.json",
            json.dumps({**DOCUMENT, "data": {**DOCUMENT["data"], "payments": [1]}}).encode(),
        ),
    ],
)
def test_the_real_command_line_refuses_a_corrupt_file_in_one_line(
    make_database, tmp_path, name, content
):
    target = make_database("sqlite")
    path = tmp_path / name
    path.write_bytes(content)
    process = manage(
        "loaddomain",
        "--no-input",
        str(path),
        "--database",
        "safety",
        env_aliases={"safety": database_url(target)},
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert is_empty(database_snapshot(target))


# ---------------------------------------------------------------------------- valid random data

SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
SAFE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SAFE_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(SAFE_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)
MOMENTS = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)
PRICES = st.decimals(
    min_value=Decimal("-9999999999.99"),
    max_value=Decimal("9999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@st.composite
def data_sets(draw):
    """A few rows of tables with text, JSON, decimals, dates and times, as model instances."""
    organization = Organization(
        id="org1",
        name=draw(SAFE_TEXT.filter(bool)),
        slug="org-1",
        type="ECOLE",
        address=draw(st.none() | SAFE_TEXT),
        created_at=draw(MOMENTS),
        updated_at=draw(MOMENTS),
    )
    subscriptions = [
        Abonnement(
            id=f"abo{n}",
            organization_id="org1",
            plan="STANDARD",
            status="ACTIVE",
            start_date=draw(MOMENTS).date(),
            end_date=draw(st.none() | MOMENTS.map(lambda m: m.date())),
            price=draw(PRICES),
            currency="XOF",
            created_at=draw(MOMENTS),
            updated_at=draw(MOMENTS),
        )
        for n in range(draw(st.integers(0, 3)))
    ]
    configurations = [
        Configuration(
            id=f"conf{n}",
            key=f"key.{n}",
            value=draw(SAFE_JSON.filter(lambda v: v is not None)),
            description=draw(st.none() | SAFE_TEXT),
            created_at=draw(MOMENTS),
            updated_at=draw(MOMENTS),
        )
        for n in range(draw(st.integers(0, 3)))
    ]
    messages = [
        ContactMessage(
            id=f"msg{n}",
            name=draw(SAFE_TEXT),
            email="x@example.org",
            subject=draw(st.none() | SAFE_TEXT),
            message=draw(SAFE_TEXT),
            is_read=draw(st.booleans()),
            created_at=draw(MOMENTS),
            updated_at=draw(MOMENTS),
        )
        for n in range(draw(st.integers(0, 3)))
    ]
    return [[organization], subscriptions, configurations, messages]


def json_numbers(value):
    """Numbers as JSON means them, by decimal value: PostgreSQL's jsonb keeps the float
    4.309306827795753e+16 as the number 43093068277957530, which reads back as an int."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {key: json_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_numbers(item) for item in value]
    return value


def first_difference(expected, loaded) -> str:
    for label, rows in expected.items():
        for pk, row in rows.items():
            other = loaded[label].get(pk)
            if other is None:
                return f"{label} {pk} missing"
            for name, value in row.items():
                if other.get(name) != value:
                    return f"{label} {pk}.{name}: {value!r} became {other.get(name)!r}"
    return "extra rows"


@pytest.mark.parametrize("target_vendor", ["sqlite", "postgresql"])
def test_random_valid_data_survives_export_then_import(make_database, tmp_path, target_vendor):
    source, target = make_database("sqlite"), make_database(target_vendor)

    @settings(max_examples=25, deadline=None)
    @given(data=data_sets())
    def round_trip(data):
        for alias in (source, target):
            for model in (ContactMessage, Configuration, Abonnement, Organization):
                model._base_manager.using(alias).all().delete()
        for instances in data:
            if instances:
                type(instances[0])._base_manager.using(source).bulk_create(instances)
        path = tmp_path / "random.json"
        call_command("dumpdomain", str(path), "--database", source, "-v", "0")
        call_command("loaddomain", "--no-input", str(path), "--database", target, "-v", "0")
        expected, loaded = (
            json_numbers(database_snapshot(source)),
            json_numbers(database_snapshot(target)),
        )
        assert loaded == expected, first_difference(expected, loaded)
        assert sum(map(len, database_snapshot(target).values())) == sum(map(len, data))

    round_trip()


# ---------------------------------------------------------------------------- faults on PostgreSQL


@pytest.fixture
def large_file(make_database, tmp_path):
    """An export of about 25,000 rows (seeddemo --scale 20)."""
    source = make_database("sqlite")
    call_command("seeddemo", "--scale", "20", "--database", source, stdout=io.StringIO())
    path = tmp_path / "large.json"
    call_command("dumpdomain", str(path), "--database", source, "-v", "0")
    return path


def _backends(admin, name):
    """(pid, has written in its transaction) of the sessions on database `name`."""
    return admin.execute(
        "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        [name],
    ).fetchall()


def _admin(alias):
    config = connections.settings[alias]
    return psycopg.connect(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname=config["NAME"],
        autocommit=True,
    )


@pytest.mark.e2e
def test_an_import_killed_half_way_leaves_the_database_as_it_was(make_database, large_file):
    target = make_database("postgresql")
    name = connections.settings[target]["NAME"]
    call_command(
        "loaddomain", "--no-input", str(NODE_FILE), "--database", target, "-v", "0"
    )  # not empty: it has rows
    before = database_snapshot(target)
    connections[target].close()
    process = manage(
        "loaddomain",
        "--no-input",
        str(large_file),
        "--database",
        "killed",
        env_aliases={"killed": database_url(target)},
    )
    try:
        with _admin(target) as admin:
            deadline = time.monotonic() + 60
            while not any(written for _, written in _backends(admin, name)):
                assert process.poll() is None, (
                    f"the import ended before it wrote: {process.communicate()}"
                )
                assert time.monotonic() < deadline, "the import never started writing"
                time.sleep(0.02)
            time.sleep(0.3)  # well inside the import: thousands of rows written, not committed
            assert process.poll() is None, (
                "the import finished before it could be killed (use a larger file)"
            )
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            deadline = time.monotonic() + 30
            while _backends(admin, name):  # the server rolls back once it sees the client gone
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert database_snapshot(target) == before


class _Failing:
    """Wraps the exporter's row reader to fail after `after` rows."""

    def __init__(self, real, after, error):
        self.real, self.after, self.error, self.count = real, after, error, 0

    def __call__(self, *args, **kwargs):
        for row in self.real(*args, **kwargs):
            self.count += 1
            if self.count > self.after:
                raise self.error
            yield row


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["export.json", "export.json.gz"])
@pytest.mark.parametrize(
    "error", [OperationalError("server closed the connection unexpectedly"), KeyboardInterrupt()]
)
def test_an_export_that_fails_half_way_leaves_no_file(monkeypatch, tmp_path, name, error):
    call_command("loaddomain", "--no-input", str(NODE_FILE), stdout=io.StringIO())
    import datatransfer.exporter as exporter

    failing = _Failing(exporter._table_rows, after=8, error=error)
    monkeypatch.setattr(exporter, "_table_rows", failing)
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises((DatabaseError, CommandError, KeyboardInterrupt)):
        call_command("dumpdomain", str(folder / name), stdout=io.StringIO(), stderr=io.StringIO())
    assert failing.count > 8, "the export failed half-way, not before it began"
    assert list(folder.iterdir()) == []  # no file under the final name, no temporary file left


@pytest.mark.e2e
def test_an_export_interrupted_by_ctrl_c_leaves_no_file(make_database, large_file, tmp_path):
    source = make_database("postgresql")
    call_command("loaddomain", "--no-input", str(large_file), "--database", source, "-v", "0")
    connections[source].close()
    folder = tmp_path / "out"
    folder.mkdir()
    config = connections.settings[source]
    # Another session holds the last table, so the export is surely half-way when Ctrl-C comes.
    connect = dict(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=config["NAME"],
    )
    blocker = psycopg.connect(**connect)
    blocker.execute('LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE')
    watcher = psycopg.connect(**connect, autocommit=True)  # sees pg_stat_activity as it is now
    process = manage(
        "dumpdomain",
        str(folder / "x.json"),
        "--database",
        "src",
        env_aliases={"src": database_url(source)},
    )
    try:
        deadline = time.monotonic() + 60
        while not _waiting_on_lock(watcher, config["NAME"]):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert any(folder.iterdir())  # the temporary file is there
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
        blocker.close()
        watcher.close()
    assert process.returncode != 0
    assert list(folder.iterdir()) == []


def _waiting_on_lock(connection, name) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
        [name],
    ).fetchone()
    return row[0] > 0


# ---------------------------------------------------------------------------- concurrent imports


def _in_thread(function):
    """Run `function` in a thread (its own database connections); return (thread, result dict)."""
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as error:  # reported by the test
            result["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_second_import_into_the_same_database_fails_at_once_without_wait(make_database):
    target = make_database("postgresql")
    with import_lock(connections[target], wait=False):
        thread, result = _in_thread(
            lambda: import_lock(connections[target], wait=False).__enter__()
        )
        thread.join(timeout=10)
    assert isinstance(result.get("error"), ImportLockedError)
    message = str(result["error"])
    assert f"Another import is running into database '{target}'" in message
    assert "\n" not in message and "--" not in message  # the command line adds its hint
    assert "use --wait to queue behind it" in error_line(result["error"])
    with import_lock(connections[target], wait=False):
        pass  # released at the end of the block


def test_with_wait_the_second_import_waits_for_the_first(make_database):
    target = make_database("postgresql")
    entered = threading.Event()

    def second():
        with import_lock(connections[target], wait=True):
            entered.set()

    with import_lock(connections[target], wait=False):
        thread, result = _in_thread(second)
        assert not entered.wait(timeout=1), "the second import did not wait"
    thread.join(timeout=10)
    assert entered.is_set() and "error" not in result


def test_the_lock_is_the_same_for_every_process_and_dies_with_its_session(make_database):
    target = make_database("postgresql")
    other = make_database("postgresql")
    with _admin(target) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])  # another process's import
        with pytest.raises(ImportLockedError):
            with import_lock(connections[target], wait=False):
                pass
        with import_lock(connections[other], wait=False):
            pass  # another database is not locked
    # The holder's session ended (as a killed import's does): the lock goes with it, once
    # the server has seen the connection close.
    deadline = time.monotonic() + 10
    while True:
        try:
            with import_lock(connections[target], wait=False):
                break
        except ImportLockedError:
            assert time.monotonic() < deadline, "the lock outlived its session"
            time.sleep(0.05)


def test_two_concurrent_loaddomain_with_wait_queue_and_give_the_same_rows_as_one(
    make_database, large_file
):
    target = make_database("postgresql")
    start = threading.Barrier(2)

    def load():
        start.wait()
        out = io.StringIO()
        call_command(
            "loaddomain", "--no-input", str(large_file), "--database", target, "--wait", stdout=out
        )
        return out.getvalue()

    (first, one), (second, two) = _in_thread(load), _in_thread(load)
    first.join(timeout=300)
    second.join(timeout=300)
    assert "error" not in one and "error" not in two, (one.get("error"), two.get("error"))
    totals = sorted(
        [int(n.replace(",", "")) for n in line.split()[1:]]
        for line in (one["value"], two["value"])
        for line in line.splitlines()
        if line.startswith("total")
    )
    # created, appended, updated, unchanged, skipped, failed: one run created (or, audit
    # logs, appended) every row, the other found them all unchanged (no duplicate, no
    # conflict, no failure).
    new = totals[1][0] + totals[1][1]
    assert totals[0][:3] == [0, 0, 0] and totals[1][2:4] == [0, 0] and new > 20000
    assert totals[0][3] == new and totals[0][4:] == totals[1][4:] == [0, 0]


def test_loaddomain_without_wait_fails_at_once_while_another_import_runs(make_database):
    target = make_database("postgresql")
    with _admin(target) as other_import:
        other_import.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        started = time.monotonic()
        with pytest.raises(CommandError) as raised:
            call_command(
                "loaddomain",
                "--no-input",
                str(NODE_FILE),
                "--database",
                target,
                stdout=io.StringIO(),
            )
        assert time.monotonic() - started < 10
    assert raised.value.returncode == 2
    assert f"Another import is running into database '{target}'" in str(raised.value)
    assert "--wait" in str(raised.value)
    assert is_empty(database_snapshot(target))


def test_on_sqlite_the_lock_takes_nothing_and_an_import_still_runs(make_database):
    """SQLite has no advisory locks: holding the import lock sends no query, and an import
    into the same database loads while it is held."""
    alias = make_database("sqlite")
    connection = connections[alias]
    with CaptureQueriesContext(connection) as queries, import_lock(connection, wait=False):
        assert len(queries) == 0
        call_command(
            "loaddomain", "--no-input", str(NODE_FILE), "--database", alias, stdout=io.StringIO()
        )
    assert not is_empty(database_snapshot(alias))
