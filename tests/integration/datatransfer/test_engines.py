"""The Writer gives exactly what the per-row oracle (tests/oracle/reference.py) gives, on
each backend (the portable one everywhere, and on PostgreSQL the postgres one as well): the
same database content and the same report, row outcome by row outcome. The oracle shares
no code with the Writer but the registry's table specs (datatransfer/writer/), so an
agreement here is two ways of writing the same rows agreeing, not one code path agreeing
with itself."""

import datetime as dt
import io
import itertools
import json

import pytest
from django.core.management import call_command
from django.db import connections

from core.models import AuditLog, BlockchainBlock, Organization, Permission, User
from datatransfer.reports import ImportReport, Outcome
from datatransfer.writer import Writer
from datatransfer.writer.backends import backend_for
from datatransfer.writer.portable import PortableBackend
from datatransfer.writer.postgres import PostgresBackend
from tests.engine_names import PARITY_WRITERS_ON, use_writer
from tests.importing import import_domain
from tests.oracle.reference import ReferenceWriter
from tests.snapshots import database_snapshot

# The domain's database (the platform's), where these tests load and read rows.
connection = connections["platform"]

FIXED = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def demo_file(make_database, tmp_path):
    """A seeddemo export (scale 1)."""
    source = make_database("sqlite")
    path = tmp_path / "demo.json"
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    call_command("dumpdomain", str(path), "--database", source, "-v", "0")
    return path


def troubled(demo_file, tmp_path):
    """The demo file with bad rows: a value too long, a dangling reference, an unknown
    permission key, a block pointing forward to a missing block, duplicate unique keys,
    an impossible date, a NUL, an unknown enum label."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    data = document["data"]
    data["configurations"][0]["key"] = "k" * 101
    data["transactions"][3]["demandePartageId"] = "cnowhere000000000000000000"
    data["users"][5]["permissionKeys"] = ["no.such.permission"]
    data["blockchainBlocks"][7]["previousBlockId"] = "cmissingblock000000000000"
    data["demandePartages"][9]["code"] = data["demandePartages"][8]["code"]
    data["payments"][2]["amount"] = "12.345"
    data["users"].append(dict(data["users"][0], id="cduplicateuser00000000001"))
    # Spelled as the tools write but refused by the server's cast (no 30 February), a NUL
    # that PostgreSQL's JSON refuses, a status that is not one of the enum's labels.
    data["contactMessages"][1]["createdAt"] = "2025-02-30T10:00:00.000Z"
    data["contactMessages"][2]["message"] = "before\x00after"
    data["abonnements"][0]["status"] = "NO_SUCH_STATUS"
    # No manifest to match the edited rows: a format 1.0 file (a 2.0 file needs its manifest).
    document["metadata"] = {"version": "1.0"}
    path = tmp_path / "troubled.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def prepare_conflicts(alias):
    """A target that already holds some of the file's unique keys under other ids."""
    stamps = {"created_at": FIXED, "updated_at": FIXED}
    Permission.objects.using(alias).bulk_create(
        [Permission(id="cprodperm0000000000000001", key="users.read", label="Prod", **stamps)]
    )
    User.objects.using(alias).bulk_create(
        [
            User(
                id="cproduser0000000000000001",
                email="placeholder@prod.example",
                password_hash="x",
                **stamps,
            )
        ]
    )


def _recording(record):
    """ImportReport.record, also keeping each row's last outcome in `report.row_outcomes`
    ({(table, id): outcome}: a deferred link that fails turns its row's outcome)."""

    def recording(report, table, outcome, row_id=None, message=None):
        report.__dict__.setdefault("row_outcomes", {})[(table, str(row_id))] = outcome
        record(report, table, outcome, row_id, message)

    return recording


def run_both(make_database, path, prepare=None, twice=False, **options):
    """Import `path` with the oracle, then with the Writer on each backend of the database
    (tests/engine_names.py), each into its own fresh database (made ready by `prepare`),
    `twice` in a row if asked; assert the same reports, the same outcome for every row and
    the same database content as the oracle's. Return the oracle's reports."""
    results = []
    writers = PARITY_WRITERS_ON["sqlite" if make_database.vendor == "sqlite" else "postgresql"]
    for writer in writers:
        alias = make_database(make_database.vendor)
        if prepare:
            prepare(alias)
        options = {**options, "using": alias, "batch_size": 37}
        with pytest.MonkeyPatch.context() as patch:
            use_writer(patch, writer)
            patch.setattr(ImportReport, "record", _recording(ImportReport.record))
            # every row heard: none counted at once by the server (record_many), so that
            # each row's outcome is compared
            patch.setattr(ImportReport, "heard", lambda report, outcome: True)
            reports = [import_domain(str(path), **options)]
            if twice:
                reports.append(import_domain(str(path), **options))
        outcomes = [report.__dict__.get("row_outcomes", {}) for report in reports]
        for report, rows in zip(reports, outcomes, strict=True):
            assert len(rows) == sum(report.totals.values())  # every row, once
        results.append(([r.as_dict() for r in reports], outcomes, database_snapshot(alias)))
    for reports, _, _ in results:
        for report in reports:
            report.pop("durationSeconds"), report.pop("database")
    (oracle_reports, oracle_outcomes, oracle_db), *others = results
    for writer, (reports, outcomes, db) in zip(writers[1:], others, strict=True):
        assert outcomes == oracle_outcomes, writer
        assert reports == oracle_reports, writer
        assert db == oracle_db, writer
    return oracle_reports


def test_the_writer_and_its_oracle_share_no_code():
    """The oracle is not a base of the Writer, nor the other way round; the backend is
    the database's (the postgres one hands the Writer's walk what it does not decide)."""
    assert not issubclass(Writer, ReferenceWriter) and not issubclass(ReferenceWriter, Writer)
    assert Writer.__module__ != ReferenceWriter.__module__
    assert backend_for("postgresql") is PostgresBackend
    assert backend_for("sqlite") is PortableBackend


@pytest.fixture
def databases(make_database):
    """Fresh databases of the vendor this run is on (SQLite, or PostgreSQL with DATABASE_URL)."""
    make_database.vendor = connection.vendor
    return make_database


def test_same_outcomes_for_the_demo_data_and_its_second_import(databases, demo_file):
    reports = run_both(databases, demo_file, twice=True)
    new = reports[0]["totals"]["created"] + reports[0]["totals"]["appended"]
    assert new > 1000 and reports[0]["tables"]["auditLogs"]["appended"] == 200
    assert reports[1]["totals"]["unchanged"] == new


def test_same_outcomes_for_a_file_with_bad_rows(databases, demo_file, tmp_path):
    [report] = run_both(databases, troubled(demo_file, tmp_path))
    kinds = {(e["table"], e["kind"]) for e in report["errors"]}
    assert ("configurations", "error") in kinds and ("transactions", "error") in kinds
    assert ("demandePartages", "conflict") in kinds and ("users", "conflict") in kinds
    assert report["totals"]["failed"] >= 8
    assert ("contactMessages", "error") in kinds and ("abonnements", "error") in kinds


def test_same_outcomes_for_a_target_holding_conflicting_rows(databases, demo_file):
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    email = document["data"]["users"][0]["email"]
    key = document["data"]["permissions"][0]["key"]

    def prepare(alias):
        prepare_conflicts(alias)
        User.objects.using(alias).filter(pk="cproduser0000000000000001").update(email=email)
        Permission.objects.using(alias).filter(pk="cprodperm0000000000000001").update(key=key)

    [report] = run_both(databases, demo_file, prepare=prepare)
    assert report["tables"]["permissions"]["skipped"] == 1
    assert report["tables"]["users"]["skipped"] == 1
    assert report["totals"]["skipped"] > 2  # what depends on the skipped user is skipped too


def test_same_outcomes_for_a_conflict_on_a_row_the_target_holds(databases, demo_file):
    """A refused row whose id the target holds does not carry its dependants down."""
    organization = json.loads(demo_file.read_text(encoding="utf-8"))["data"]["organizations"][0]

    def prepare(alias):
        import_domain(str(demo_file), using=alias)
        # The target renamed the organization, and another one took its slug since.
        Organization.objects.using(alias).filter(pk=organization["id"]).update(slug="renamed")
        Organization.objects.using(alias).bulk_create(
            [
                Organization(
                    id="cprodorg0000000000000001",
                    name="X",
                    slug=organization["slug"],
                    type="AUTRE",
                    created_at=FIXED,
                    updated_at=FIXED,
                )
            ]
        )

    [report] = run_both(databases, demo_file, prepare=prepare)
    assert report["totals"]["skipped"] == 1, report["errors"][:5]
    assert report["totals"]["failed"] == 0


def test_same_outcomes_for_append_only_and_immutable_rows(databases, demo_file, tmp_path):
    """Audit logs are matched by content and appended under new ids, blocks are never
    changed; duplicates of content in the file, within a batch and across batches, are as
    many events (the target's rows of that content count first)."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    logs = document["data"]["auditLogs"]
    by_id = {row["id"]: row for row in logs}
    logs.insert(1, dict(by_id[1], id=100000))  # the same event twice in one batch
    logs.append(dict(by_id[2], id=100001))  # and across batches
    logs.append(dict(by_id[51], id=100002))  # an event the target holds
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "policies.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    blocks = sorted(document["data"]["blockchainBlocks"], key=lambda b: b["index"])

    def prepare(alias):
        import_domain(str(demo_file), using=alias)
        logs = AuditLog.objects.using(alias)
        logs.filter(pk__in=range(1, 6)).update(action="PROD_EVENT")  # other events, same ids
        logs.filter(pk__in=range(6, 9)).delete()
        chain = BlockchainBlock.objects.using(alias)
        chain.filter(index=blocks[9]["index"]).update(nonce=1)  # the target's own block 10
        chain.filter(index=blocks[-1]["index"]).delete()

    first, second = run_both(databases, path, prepare=prepare, twice=True)
    audit, chain = first["tables"]["auditLogs"], first["tables"]["blockchainBlocks"]
    # Events 1 to 8 are not in the target (changed or deleted there): 1 and 2 twice in the
    # file, so 10 rows; event 51 twice in the file, once in the target: 1 more.
    assert (audit["appended"], audit["unchanged"], audit["updated"]) == (11, 192, 0), audit
    assert (chain["skipped"], chain["created"], chain["updated"]) == (1, 1, 0), chain
    assert chain["unchanged"] == len(blocks) - 2
    assert second["tables"]["auditLogs"]["appended"] == 0
    assert second["tables"]["auditLogs"]["unchanged"] == 203
    assert second["tables"]["blockchainBlocks"]["skipped"] == 1


def test_same_outcomes_for_a_dry_run_of_append_only_and_immutable_rows(
    databases, demo_file, tmp_path
):
    """A dry run reports what a real run would do and leaves the target as it was."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    logs = document["data"]["auditLogs"]
    logs.append(dict(logs[0], id=100000))  # an event twice in the file
    document["data"]["blockchainBlocks"][3]["nonce"] = 987654321  # another version of a block
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "dry.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    def prepare(alias):
        import_domain(str(demo_file), using=alias)
        AuditLog.objects.using(alias).filter(pk__in=range(1, 4)).delete()

    [report] = run_both(databases, path, prepare=prepare, dry_run=True)
    assert report["tables"]["auditLogs"]["appended"] == 4  # event 1 twice, 2 and 3
    assert report["tables"]["blockchainBlocks"]["skipped"] == 1


def test_same_outcomes_for_identical_events_counted_as_a_multiset(databases, demo_file, tmp_path):
    """n identical events in the file are n rows in the target: the target's k rows of that
    content count first, n - k are appended when n > k, none when k >= n; a second import
    of the file appends nothing. In one batch and across batches (run_both's batches are
    37 rows), in a dry run as in a real one."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    logs = document["data"]["auditLogs"]
    first, second, third = logs[0], logs[1], logs[100]
    # The same action by the same user in the same millisecond: two rows of one content.
    logs.insert(1, dict(first, id=100000))
    logs.append(dict(first, id=100001))  # and a third one, in a later batch
    logs.insert(3, dict(second, id=100002))
    logs.append(dict(third, id=100003))
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "identical.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    def prepare(alias):
        import_domain(str(demo_file), using=alias)  # one row of each content
        held = AuditLog.objects.using(alias)
        # The target holds the 101st event three times already: more than the file's two.
        row = held.get(pk=third["id"])
        for _ in range(2):
            row.pk = None
            row.save(using=alias)

    [empty] = run_both(databases, path)
    assert empty["tables"]["auditLogs"]["appended"] == 204  # none collapsed
    again, twice = run_both(databases, path, prepare=prepare, twice=True)
    # The first event 3 times (the target has 1), the second twice (1), the 101st twice (3).
    audit = again["tables"]["auditLogs"]
    assert (audit["appended"], audit["unchanged"]) == (3, 201), audit
    assert twice["tables"]["auditLogs"]["appended"] == 0
    [dry] = run_both(databases, path, prepare=prepare, dry_run=True)
    assert dry["tables"]["auditLogs"]["appended"] == 3


# Times no calendar has, and words PostgreSQL reads as times: the codec refuses them all,
# where a cast to PostgreSQL's timestamp takes 24:00:00 as the next day and a leap second
# as the next minute, and `epoch`, `infinity`, `today`, `allballs` as what they name.
IMPOSSIBLE_TIMES = [
    "2016-12-31T23:59:60.000Z",
    "2023-01-01T24:00:00.000Z",
    "2023-01-01T24:00:00Z",
    "2023-06-30T23:59:60Z",
    "2023-01-01T23:60:00.000Z",
    "2023-01-01T25:00:00.000Z",
    "2023-02-29T10:00:00.000Z",
    "epoch",
    "infinity",
    "-infinity",
    "today",
    "now",
    "allballs",
]
IMPOSSIBLE_DATES = [
    "2023-02-29",
    "2023-01-01T24:00:00.000Z",
    "2016-12-31T23:59:60.000Z",
    "2023-01-01T00:00:60.000Z",
    "epoch",
    "infinity",
    "today",
    "allballs",
]


def test_same_outcomes_for_impossible_times(databases, demo_file, tmp_path):
    """The Writer refuses a time or a date that does not exist (the row fails, exit 1
    for loaddomain), on PostgreSQL too: it never stores the next day instead."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    data = document["data"]
    for row, value in zip(data["contactMessages"], IMPOSSIBLE_TIMES, strict=False):
        row["createdAt"] = value
    for row, value in zip(data["abonnements"], IMPOSSIBLE_DATES, strict=False):
        row["startDate"] = value
    data["users"][0]["lastLoginAt"] = "2023-01-01T24:00:00.000Z"  # a nullable time
    data["auditLogs"][0]["createdAt"] = "2016-12-31T23:59:60.000Z"  # an append-only table
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "times.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    [report] = run_both(databases, path)
    tables = report["tables"]
    assert tables["contactMessages"]["failed"] == len(IMPOSSIBLE_TIMES), tables["contactMessages"]
    assert tables["abonnements"]["failed"] == len(IMPOSSIBLE_DATES), tables["abonnements"]
    failed = {(e["table"], e["message"].split(" ")[0]) for e in report["errors"]}
    assert {("users", "lastLoginAt"), ("auditLogs", "createdAt")} <= failed, failed
    messages = {e["message"] for e in report["errors"] if e["table"] == "contactMessages"}
    assert all(message.startswith("createdAt ") for message in messages), messages


def time_spellings():
    """Spellings of times and dates, possible and not: every mix of a day (real or not),
    an hour, a minute, a second and a fraction at their edges, and PostgreSQL's words."""
    days = ["2016-12-31", "2023-02-29", "2024-02-29", "2023-04-31", "2023-13-01", "2023-01-00"]
    for day, hour, minute, second, fraction in itertools.product(
        days, ("00", "23", "24", "25"), ("00", "59", "60"), ("00", "59", "60"), ("", ".000", ".5")
    ):
        yield f"{day}T{hour}:{minute}:{second}{fraction}Z"
    yield from days
    yield from ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00Z"]
    yield from ["epoch", "infinity", "-infinity", "today", "tomorrow", "now", "allballs"]
    yield from ["2023-01-01 10:00:00", "2023-01-01T10:00:00+02:00", "20230101T100000Z"]


def test_on_postgresql_the_server_types_only_what_the_codec_reads_alike(databases):
    """For every spelling of a time or a date, the postgres backend's typing either leaves
    the row to the Writer's walk (the codec decides, as on every other database) or gives the
    codec's very value: never a value where the codec refuses the row (24:00:00 read as the
    next day, a leap second as the next minute, `epoch`), never another value."""
    if databases.vendor == "sqlite":
        pytest.skip("the postgres backend needs PostgreSQL")
    from django.db import DatabaseError, transaction

    from core.models import Abonnement, ContactMessage
    from datatransfer.formats.rows import value_decoder
    from datatransfer.writer.postgres_sql import typed_column

    alias = databases("postgresql")
    wrong = []
    for field in (
        ContactMessage._meta.get_field("created_at"),
        Abonnement._meta.get_field("start_date"),
    ):
        condition, expression = typed_column(field, "v", connections[alias], secret=False)
        decode = value_decoder(field)
        query = (
            f"SELECT {condition}, {expression} FROM (SELECT %s::jsonb AS j) AS s WHERE {condition}"
        )
        with connections[alias].cursor() as cursor:
            for text in time_spellings():
                try:
                    expected = decode(text)
                except ValueError:
                    expected = "refused"
                try:
                    with transaction.atomic(using=alias):
                        cursor.execute(query, [json.dumps({"v": text})])
                        typed = cursor.fetchone()
                except DatabaseError:
                    typed = None  # the whole table goes to the Writer's walk
                if typed is None:
                    continue
                value = typed[1]
                if isinstance(value, dt.datetime) and value.tzinfo is None:
                    value = value.replace(tzinfo=dt.UTC)
                if value != expected:
                    wrong.append((field.name, text, str(value), str(expected)))
    assert wrong == []


def changed_file(demo_file, tmp_path):
    """The demo file with every tenth row of each table changed: a text, a time, a decimal,
    a JSON value, a user's permissions, an organization's owner, a block's nonce (an
    immutable row), an emptied secret, and an audit event of another content."""
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    data = document["data"]
    for rows in data.values():
        for row in rows[::10]:
            if "updatedAt" in row:
                row["updatedAt"] = "2031-02-03T04:05:06.789Z"
    for row in data["organizations"][::10]:
        row["name"] += " (renamed)"
        row["ownerId"] = data["users"][-1]["id"]
    for row in data["users"][::10]:
        keys = row["permissionKeys"][1:] + [data["permissions"][-1]["key"]]
        row["permissionKeys"] = sorted(set(keys))
    data["users"][3]["passwordHash"] = ""
    # A new user who owns an existing organization (a link of the cycle, set at the end).
    newcomer = dict(data["users"][0], id="cnewcomer0000000000000001", email="new@example.org")
    data["users"].append(newcomer)
    data["organizations"][5]["ownerId"] = newcomer["id"]
    for row in data["payments"][::10]:
        row["amount"] = "1234.50"
        row["metadata"] = {"changed": [1, 2.5, None, "é"]}
    data["blockchainBlocks"][4]["nonce"] = "424242"
    for row in data["auditLogs"][::10]:
        row["action"] = "CHANGED"
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("vendor", ["run", "prisma"])
def test_same_outcomes_for_a_file_with_a_tenth_of_its_rows_changed(
    databases, demo_file, tmp_path, vendor
):
    """An import over the original data: the changed rows are updated (the immutable block
    is refused, the changed events appended), the others unchanged; on the platform's own
    Prisma-made tables too."""
    if vendor == "prisma":
        if databases.vendor == "sqlite":
            pytest.skip("the Prisma-made tables are PostgreSQL tables")
        databases.vendor = "prisma"
    path = changed_file(demo_file, tmp_path)
    [report] = run_both(
        databases, path, prepare=lambda alias: import_domain(str(demo_file), using=alias)
    )
    tables = report["tables"]
    assert tables["organizations"]["updated"] == 2 and tables["users"]["updated"] == 6
    assert tables["users"]["created"] == 1
    assert tables["blockchainBlocks"]["skipped"] == 1
    assert tables["payments"]["updated"] > 0 and tables["auditLogs"]["appended"] == 20
    assert report["totals"]["failed"] == 0


def test_on_postgresql_the_server_writes_the_plain_rows(databases, demo_file, monkeypatch):
    """The postgres backend hands the Writer's walk no row of a file as the tools write it,
    on its first import and on a second one."""
    if databases.vendor == "sqlite":
        pytest.skip("the postgres backend needs PostgreSQL")
    handed = []
    walk = Writer._walk

    def counting(self, table, rows, on_rows=None):
        rows = list(rows)
        handed.extend((table.key, row.get("id")) for row in rows)
        walk(self, table, iter(rows), on_rows)

    monkeypatch.setattr(Writer, "_walk", counting)
    alias = databases("prisma")
    first = import_domain(str(demo_file), using=alias)
    second = import_domain(str(demo_file), using=alias)
    assert handed == []
    assert first.totals[Outcome.CREATED] > 900 and first.totals[Outcome.APPENDED] == 200
    assert first.issues == []
    assert sum(second.totals.values()) == second.totals[Outcome.UNCHANGED]


def test_on_postgresql_rows_counted_by_the_server_give_the_same_reports(
    databases, demo_file, tmp_path, monkeypatch
):
    """The rows of an outcome nobody follows row by row are counted by the server: the
    reports are those of an import that reads every row's outcome back."""
    if databases.vendor == "sqlite":
        pytest.skip("the postgres backend needs PostgreSQL")
    changed = changed_file(demo_file, tmp_path)

    def reports(alias):
        runs = [
            import_domain(str(demo_file), using=alias, dry_run=True),
            import_domain(str(demo_file), using=alias),
            import_domain(str(demo_file), using=alias),
            import_domain(str(changed), using=alias, dry_run=True),
        ]
        return [{**r.as_dict(), "durationSeconds": 0, "database": ""} for r in runs]

    counted = reports(databases("prisma"))
    with monkeypatch.context() as patch:
        patch.setattr(ImportReport, "heard", lambda report, outcome: True)
        read_back = reports(databases("prisma"))
    assert counted == read_back
    assert counted[2]["totals"]["unchanged"] == sum(counted[2]["totals"].values()) > 1000


def row_versions(alias) -> dict:
    """{(table, id): xmin} of every row of the domain tables: a row rewritten gets a new one."""
    versions = {}
    with connections[alias].cursor() as cursor:
        for model in (Organization, User, Permission, AuditLog, BlockchainBlock):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT id::text, xmin::text FROM {table}")
            versions.update({(model.__name__, pk): xmin for pk, xmin in cursor.fetchall()})
    return versions


def test_on_postgresql_only_the_changed_rows_get_a_new_row_version(databases, demo_file, tmp_path):
    """A user whose permissions only changed keeps its row as it is (its links change); a
    renamed organization is rewritten; every other row keeps its row version."""
    if databases.vendor == "sqlite":
        pytest.skip("row versions are PostgreSQL's")
    document = json.loads(demo_file.read_text(encoding="utf-8"))
    user, organization = document["data"]["users"][2], document["data"]["organizations"][1]
    user["permissionKeys"] = [document["data"]["permissions"][0]["key"]]
    organization["name"] = "Renamed"
    document["metadata"] = {"version": "1.0"}  # edited: no manifest to match
    path = tmp_path / "links.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    alias = databases("prisma")
    import_domain(str(demo_file), using=alias)
    before = row_versions(alias)
    report = import_domain(str(path), using=alias)
    after = row_versions(alias)
    assert report.tables["users"]["updated"] == 1
    assert report.tables["organizations"]["updated"] == 1
    assert {key for key in before if before[key] != after[key]} == {
        ("Organization", organization["id"])
    }
    links = User.permissions.through.objects.using(alias).filter(user_id=user["id"])
    assert set(links.values_list("permission__key", flat=True)) == set(user["permissionKeys"])
