"""Which side is behind: the export records its source's schema (tables, columns, types,
nullability, defaults, enum labels, Prisma's applied migrations) in its manifest; the import
compares it with the target before writing anything (datatransfer/schemarecord.py).

On the `default` database: SQLite, or PostgreSQL when DATABASE_URL points there.
"""

import io
import json

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings

from core.models import Organization, User
from datatransfer.manifest import TableDigest
from datatransfer.routers import domain_database
from datatransfer.schemarecord import RECORD, compare_schemas
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------- the comparison


def column(type_="text", null=True, default=False):
    return {"type": type_, "null": null, "default": default}


def schema(tables=None, enums=None, migrations=None):
    found = {"tables": tables or {}, "enums": enums or {}}
    if migrations is not None:
        found["migrations"] = migrations
    return found


BASE = {"User": {"id": column(null=False), "phone": column()}}


def test_the_same_schema_has_no_gap():
    gap = compare_schemas(schema(BASE, {"Role": ["USER"]}), schema(BASE, {"Role": ["USER"]}))
    assert not gap


def test_columns_tables_and_labels_the_target_lacks_are_named():
    file = schema(
        {**BASE, "User": {**BASE["User"], "nickname": column()}, "Badge": {"id": column()}},
        {"Role": ["USER", "GUEST"]},
    )
    gap = compare_schemas(file, schema(BASE, {"Role": ["USER"]}))
    assert gap.target_lacks == ["Badge", "User.nickname", "Role.GUEST"]
    assert gap.file_lacks == [] and gap


def test_columns_the_file_lacks_are_named_by_table_and_column():
    target = schema({**BASE, "User": {**BASE["User"], "nickname": column()}})
    gap = compare_schemas(schema(BASE), target)
    assert gap.file_lacks == [("User", "nickname")]
    assert gap.target_lacks == []


def test_a_table_the_file_lacks_is_named_whole():
    gap = compare_schemas(schema(BASE), schema({**BASE, "Badge": {"id": column()}}))
    assert gap.file_lacks == [("Badge", None)]


def test_other_types_are_named_when_both_sides_say_them():
    target = schema({"User": {**BASE["User"], "phone": column("character varying(50)")}})
    assert compare_schemas(schema(BASE), target).other_types == [
        "User.phone is text in the file's source, character varying(50) here"
    ]
    untyped = schema({"User": {name: column(None) for name in BASE["User"]}})
    assert not compare_schemas(untyped, schema(BASE))


def test_labels_are_compared_only_for_enums_both_sides_know():
    assert not compare_schemas(schema(BASE, {"Role": ["USER"]}), schema(BASE))


def test_migrations_are_compared_only_when_both_sides_record_them():
    gap = compare_schemas(
        schema(BASE, migrations=["1_init", "2_nickname"]),
        schema(BASE, migrations=["1_init", "3_badges"]),
    )
    assert gap.source_only_migrations == ["2_nickname"]
    assert gap.target_only_migrations == ["3_badges"]
    assert not compare_schemas(schema(BASE, migrations=["1_init"]), schema(BASE))
    assert not compare_schemas(schema(BASE), schema(BASE, migrations=["1_init"]))


# ---------------------------------------------------------------------------- on the database


@pytest.fixture
def export(node_file, tmp_path):
    """A 2.0 export of the Node.js file's data, the data left in the database."""
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), "-v", "0")
    return path


def rewritten(path, change, name="changed.json"):
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    out = path.with_name(name)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return str(out)


def record(document) -> dict:
    return document["metadata"]["manifest"][RECORD]


def as_older_file(document, table_key, db_table, key, column_name):
    """The file an older schema made: `key` gone from the rows of `table_key`, from the
    manifest's schema and from the record, the table's digest made again."""
    rows = document["data"][table_key]
    digest = TableDigest()
    for row in rows:
        row.pop(key)
        digest.add(row)
    manifest = document["metadata"]["manifest"]
    manifest["tables"][table_key] = digest.as_dict()
    del manifest["schema"][table_key][key]
    del manifest[RECORD]["tables"][db_table][column_name]


def load(path, *args) -> str:
    out = io.StringIO()
    call_command("loaddomain", "--no-input", path, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refusal(path, *args) -> CommandError:
    with pytest.raises(CommandError) as caught:
        load(path, *args)
    assert caught.value.returncode == 2
    assert len(str(caught.value).splitlines()) == 1
    return caught.value


def fake_prisma_migrations(*names):
    """Prisma's table of applied migrations, as Prisma makes it (the columns read)."""
    with connections[domain_database()].cursor() as cursor:
        cursor.execute(
            'CREATE TABLE "_prisma_migrations" (id varchar(36) PRIMARY KEY, '
            "checksum varchar(64) NOT NULL, finished_at timestamp, "
            "migration_name varchar(255) NOT NULL, rolled_back_at timestamp, "
            "started_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        for number, name in enumerate(names):
            cursor.execute(
                'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name) '
                "VALUES (%s, 'x', CURRENT_TIMESTAMP, %s)",
                [str(number), name],
            )


def test_the_export_records_its_sources_schema_in_the_manifest(export):
    recorded = record(json.loads(export.read_text(encoding="utf-8")))
    user = recorded["tables"]["User"]
    assert user["phone"]["null"] is True and user["email"]["null"] is False
    assert isinstance(user["isActive"]["default"], bool)
    assert "_PermissionToUser" in recorded["tables"]
    assert "GUEST" not in recorded["enums"]["Role"] and "USER" in recorded["enums"]["Role"]
    assert recorded["vendor"] == connections[domain_database()].vendor
    assert "migrations" not in recorded  # no _prisma_migrations table


def test_the_export_records_prismas_applied_migrations(tmp_path, db):
    fake_prisma_migrations("20250101_init", "20250201_phone")
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), "-v", "0")
    recorded = record(json.loads(path.read_text(encoding="utf-8")))
    assert recorded["migrations"] == ["20250101_init", "20250201_phone"]


def test_the_record_is_covered_by_the_signature(tmp_path, db):
    path = tmp_path / "export.json"
    with override_settings(DATATRANSFER_SIGNING_KEY="k" * 32):
        call_command("dumpdomain", str(path), "-v", "0")
        changed = rewritten(path, lambda d: record(d)["tables"]["User"].pop("phone"))
        assert "signature does not match" in str(refusal(changed))


def test_a_file_with_columns_and_labels_the_target_lacks_is_refused_before_any_write(export):
    def newer(document):
        record(document)["tables"]["User"]["nickname"] = column()
        record(document)["enums"]["Role"].append("GUEST")

    changed = rewritten(export, newer)
    User.objects.update(phone="+33 1 00 00 00 00")
    before = database_snapshot(domain_database())
    message = str(refusal(changed))
    assert "User.nickname" in message and "Role.GUEST" in message
    assert "prisma migrate deploy" in message and "behind" in message
    assert database_snapshot(domain_database()) == before


def test_the_target_lacking_a_migration_of_the_source_is_named(export):
    fake_prisma_migrations("20250101_init")
    changed = rewritten(
        export,
        lambda d: record(d).update(
            migrations=["20250101_init", "20250301_nickname"],
            tables={**record(d)["tables"], "User": {**record(d)["tables"]["User"], "x": column()}},
        ),
    )
    message = str(refusal(changed))
    assert "User.x" in message and "20250301_nickname" in message


def empty_domain():
    """Every domain row deleted (the owner cycle cut first)."""
    Organization.objects.update(owner=None)
    User.objects.update(organization=None)
    for model in reversed(list(apps.get_app_config("core").get_models())):
        model.objects.all().delete()


def test_columns_the_file_lacks_keep_their_value_on_update(export):
    older = rewritten(export, lambda d: as_older_file(d, "users", "User", "phone", "phone"))
    kept = User.objects.order_by("email").first()
    User.objects.filter(pk=kept.pk).update(phone="+33 1 00 00 00 00", first_name="changed")
    output = load(older)
    assert "User.phone" in output and "NULL" in output and "keep" in output
    kept.refresh_from_db()
    assert kept.phone == "+33 1 00 00 00 00" and kept.first_name != "changed"


def test_a_created_row_gets_null_for_a_column_the_file_lacks(export):
    older = rewritten(export, lambda d: as_older_file(d, "users", "User", "phone", "phone"))
    empty_domain()
    load(older)
    assert User.objects.count() == 2
    assert set(User.objects.values_list("phone", flat=True)) == {None}


def test_a_required_column_without_default_that_the_file_lacks_is_refused(export):
    changed = rewritten(export, lambda d: record(d)["tables"]["User"].pop("email"))
    before = database_snapshot(domain_database())
    message = str(refusal(changed))
    assert "User.email" in message and "required" in message
    assert database_snapshot(domain_database()) == before


def test_migrations_one_side_lacks_are_named_in_a_note(export):
    fake_prisma_migrations("20250101_init", "20250401_badges")
    changed = rewritten(
        export, lambda d: record(d).update(migrations=["20250101_init", "20250301_nickname"])
    )
    output = load(changed)
    assert "20250301_nickname" in output and "20250401_badges" in output


def test_a_file_without_the_record_loads_as_before(export, node_file):
    older = rewritten(export, lambda d: d["metadata"]["manifest"].pop(RECORD))
    output = load(older)
    assert "schema" not in output and " behind " not in output
    assert " behind " not in load(node_file)
