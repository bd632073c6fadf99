"""verifydomain: each kind of difference between a file and a database is found and named,
a database that agrees exits 0, and nothing is ever written."""

import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import (
    Abonnement,
    AuditLog,
    Configuration,
    ContactMessage,
    Organization,
    Permission,
    User,
)
from datatransfer.verifier import verify_domain
from tests.integration.datatransfer.test_matching import (  # noqa: F401 (a fixture)
    ADMIN,
    PROD_ADMIN,
    PROD_PERMISSION,
    admin_file,
    hold_admin_and_permission,
)
from tests.snapshots import database_snapshot

pytestmark = pytest.mark.django_db

ORG = "ckorga0000000000000000001"
USER = "ckuser0000000000000000001"


def verify(*args):
    """Run verifydomain; return (exit status, stdout)."""
    out = io.StringIO()
    try:
        call_command("verifydomain", *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        assert "\n" not in str(error)
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def loaded(node_file):
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    return node_file


def summary(out, table):
    """{column: number} of `table`'s line in the summary."""
    header = re.search(r"^table\s.*$", out, re.M).group(0).split("  ")
    names = [h.strip() for h in header if h.strip()]
    line = re.search(rf"^{table}\s.*$", out, re.M).group(0)
    return dict(zip(names[1:], (int(n.replace(",", "")) for n in line.split()[1:]), strict=True))


def test_a_database_that_agrees_exits_0(loaded):
    status, out = verify(loaded)
    assert status == 0
    assert "The database agrees with the file." in out
    assert re.search(r"^total\s+21\s+21\s+0\s+0\s+0\s+0$", out, re.M)


def test_a_row_missing_from_the_database_is_named(loaded, tmp_path):
    ContactMessage.objects.filter(pk="ckcont0000000000000000001").delete()
    status, out = verify(loaded, "--report", str(tmp_path / "r.json"))
    assert status == 1
    assert (
        "missing: contactMessages ckcont0000000000000000001: in the file, not in the database"
        in out
    )
    assert summary(out, "contactMessages") == {
        "in file": 1,
        "matching": 0,
        "missing": 1,
        "differing": 0,
        "extra": 0,
        "invalid": 0,
    }
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["agrees"] is False
    assert report["tables"]["contactMessages"]["missing"] == ["ckcont0000000000000000001"]


def test_a_row_that_differs_names_each_field_with_both_values(loaded, tmp_path):
    Organization.objects.filter(pk=ORG).update(name="UFHB", is_active=False)
    Abonnement.objects.update(price=Decimal("15000.01"))
    status, out = verify(loaded, "--report", str(tmp_path / "r.json"))
    assert status == 1
    line = next(
        line for line in out.splitlines() if line.startswith(f"differs: organizations {ORG}")
    )
    assert 'name "Université Félix Houphouët-Boigny" in the file, "UFHB" in the database' in line
    assert "isActive true in the file, false in the database" in line
    assert 'price "15000.00" in the file, "15000.01" in the database' in out
    assert (
        summary(out, "organizations")["differing"] == 1
        and summary(out, "organizations")["matching"] == 1
    )
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    [difference] = report["tables"]["abonnements"]["differing"]
    assert difference["fields"] == {"price": {"file": "15000.00", "database": "15000.01"}}


def test_a_json_value_that_differs_is_found_but_key_order_and_int_float_are_not_differences(loaded):
    Configuration.objects.update(value={"currency": "XOF", "amount": 2500.0})
    assert verify(loaded)[0] == 0
    Configuration.objects.update(value={"currency": "XOF", "amount": 2501})
    status, out = verify(loaded)
    assert status == 1 and "differs: configurations ckconf0000000000000000001: value" in out


def test_a_row_the_file_lacks_is_extra(loaded):
    Configuration.objects.create(id="ckconfextra00000000000001", key="extra.key", value=[1])
    status, out = verify(loaded)
    assert status == 1
    assert (
        "extra: configurations ckconfextra00000000000001: in the database, not in the file" in out
    )
    assert summary(out, "configurations")["extra"] == 1


def test_twenty_differences_are_shown_then_how_many_more_and_all_of_them_with_v2(loaded):
    Configuration.objects.bulk_create(
        Configuration(id=f"ckconfextra{n:014}", key=f"extra.{n}", value=[n]) for n in range(25)
    )
    status, out = verify(loaded)
    shown = [line for line in out.splitlines() if line.startswith("extra: configurations")]
    assert status == 1 and len(shown) == 20
    assert out.rstrip().endswith("... and 5 more (all of them with -v 2 or --report FILE).")
    status, out = verify(loaded, "-v", "2")
    assert len([line for line in out.splitlines() if line.startswith("extra: ")]) == 25


def test_a_many_to_many_difference_names_the_keys(loaded):
    user = User.objects.get(pk=USER)
    file_keys = sorted(user.permissions.values_list("key", flat=True))
    assert file_keys, "the file gives this user permissions"
    user.permissions.remove(Permission.objects.get(key=file_keys[0]))
    status, out = verify(loaded)
    assert status == 1
    expected = json.dumps(file_keys, ensure_ascii=False)
    assert f"differs: users {USER}: permissionKeys {expected} in the file, " in out


def test_a_file_row_the_importer_would_refuse_is_invalid(loaded, tmp_path):
    document = json.loads(Path(loaded).read_text(encoding="utf-8"))
    document["data"]["abonnements"][0]["price"] = "cher"
    path = tmp_path / "bad-value.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    status, out = verify(str(path))
    assert status == 1
    assert (
        'invalid: abonnements ckabon0000000000000000001: price "cher": not a decimal number' in out
    )


def test_verifying_writes_nothing(loaded):
    Organization.objects.filter(pk=ORG).update(name="UFHB")
    ContactMessage.objects.all().delete()
    before = database_snapshot("platform")
    assert verify(loaded)[0] == 1
    assert database_snapshot("platform") == before


def test_excluded_tables_and_tables_absent_from_the_file_are_not_compared(loaded, tmp_path):
    ContactMessage.objects.all().delete()
    status, out = verify(loaded, "--exclude", "contactMessages")
    assert status == 0 and not re.search(r"^contactMessages", out, re.M)
    path = tmp_path / "only-permissions.json"
    path.write_text(
        json.dumps(
            {"data": {"permissions": json.loads(Path(loaded).read_text())["data"]["permissions"]}}
        )
    )
    status, out = verify(str(path))
    assert status == 0
    assert "Note: Not in the file, not compared: organizations, users," in out


def test_secrets_left_empty_by_an_export_without_secrets_are_not_differences(loaded, tmp_path):
    document = json.loads(Path(loaded).read_text(encoding="utf-8"))
    document["metadata"]["secretsExcluded"] = True
    for user in document["data"]["users"]:
        user["passwordHash"] = ""
    path = tmp_path / "no-secrets.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert verify(str(path))[0] == 0
    document["metadata"]["secretsExcluded"] = False
    path.write_text(json.dumps(document), encoding="utf-8")
    status, out = verify(str(path))
    assert status == 1 and "passwordHash empty in the file, set in the database" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        ('{"metadata": {}, "data": {"permissions": [{"id"', "is not valid JSON"),
        ('{"data": {"notifications": []}}', "Unknown table 'notifications'"),
        (
            '{"data": {"permissions": [{"id": "p", "colour": 1}]}}',
            "Unknown field 'permissions.colour'",
        ),
    ],
)
def test_a_bad_file_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match=message) as raised:
        call_command("verifydomain", str(path), stdout=io.StringIO())
    assert raised.value.returncode == 2 and "\n" not in str(raised.value)


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_seeddemo_file_just_loaded_agrees_and_compares_in_batches(
    make_database, tmp_path, vendor, monkeypatch
):
    source, target = make_database("sqlite"), make_database(vendor)
    call_command("seeddemo", "--scale", "1", "--database", source, stdout=io.StringIO())
    path = str(tmp_path / "demo.json")
    call_command("dumpdomain", path, "--database", source, "-v", "0")
    call_command("loaddomain", "--no-input", path, "--database", target, "-v", "0")
    monkeypatch.setattr("datatransfer.verifier.BATCH_SIZE", 7)  # batches that end mid-table
    report = verify_domain(path, using=target)
    assert report.agrees, [str(d) for t in report.tables.values() for d in t.differing[:3]]
    assert sum(t.matching for t in report.tables.values()) > 900
    User.objects.using(target).filter(
        pk=User.objects.using(target).order_by("pk").values("pk")[:1]
    ).update(first_name="Changé")
    report = verify_domain(path, using=target)
    assert [len(t.differing) for t in report.tables.values() if t.differing] == [1]


# ---------------------------------------------------------------------------- --match natural,
# --skip-audit, the manifest


@pytest.fixture
def naturally_loaded(admin_file):  # noqa: F811
    """The admin file loaded with --match natural into a target that held its admin and a
    permission under other ids."""
    hold_admin_and_permission()
    call_command("loaddomain", "--no-input", admin_file, "--match", "natural", stdout=io.StringIO())
    return admin_file


def test_after_a_natural_key_import_match_natural_finds_agreement(naturally_loaded, tmp_path):
    status, out = verify(naturally_loaded)
    # By id, the matched rows are missing and extra, their links differ; an audit log is
    # compared by content, so the one linking to the matched admin is missing and extra too.
    assert status == 1
    assert re.search(r"^total\s+21\s+\d+\s+3\s+\d+\s+3\s+0$", out, re.M), out
    report = tmp_path / "r.json"
    status, out = verify(naturally_loaded, "--match", "natural", "--report", str(report))
    assert status == 0, out
    assert "The database agrees with the file." in out
    assert re.search(r"^total\s+21\s+21\s+0\s+0\s+0\s+0$", out, re.M)
    assert "Note: Matched by natural key, compared under the database's ids: " in out
    assert json.loads(report.read_text(encoding="utf-8"))["idMapping"] == {
        "permissions": {"ckperm0000000000000000001": PROD_PERMISSION},
        "users": {ADMIN: PROD_ADMIN},
    }


def test_match_natural_still_finds_a_difference(naturally_loaded):
    User.objects.filter(pk=PROD_ADMIN).update(first_name="Changée")
    status, out = verify(naturally_loaded, "--match", "natural")
    assert status == 1
    assert f'differs: users {PROD_ADMIN}: firstName "Aminata" in the file, "Changée"' in out


def test_skip_audit_leaves_the_audit_logs_out(loaded):
    AuditLog.objects.create(action="prod.only", entity="System")
    assert verify(loaded)[0] == 1
    status, out = verify(loaded, "--skip-audit")
    assert status == 0 and not re.search(r"^auditLogs", out, re.M)


@pytest.fixture
def exported(loaded, tmp_path):
    path = tmp_path / "export.json"
    call_command("dumpdomain", str(path), "-v", "0")
    return path


def test_an_altered_file_is_refused_like_loaddomain_refuses_it(exported, tmp_path):
    document = json.loads(exported.read_text(encoding="utf-8"))
    document["data"]["users"][0]["role"] = "SUPERADMIN"
    User.objects.filter(pk=document["data"]["users"][0]["id"]).update(role="SUPERADMIN")
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="table 'users' has rows that differ") as raised:
        call_command("verifydomain", str(altered), stdout=io.StringIO())
    assert raised.value.returncode == 2 and "\n" not in str(raised.value)
    status, out = verify(str(altered), "--no-verify")
    assert status == 0 and "Note: Not verified" in out
    assert verify(str(exported))[0] == 1  # the database was changed, not the file


def test_a_node_file_has_no_manifest_to_check_and_says_so(loaded):
    status, out = verify(loaded)
    assert status == 0 and "Note: Format 1.0 file (the Node.js tool)" in out


def test_audit_logs_are_compared_by_content_whatever_their_ids(node_file):
    own = AuditLog.objects.create(action="PROD", entity="User")  # the target's own event
    call_command("loaddomain", "--no-input", node_file, stdout=io.StringIO())
    # The file's audit logs 17 and 18 came in under the target's next ids; one changed since.
    AuditLog.objects.filter(action="EXPORT").update(entity="Autre")
    status, out = verify(node_file)
    assert status == 1
    assert summary(out, "auditLogs") == {
        "in file": 2,
        "matching": 1,
        "missing": 1,
        "differing": 0,
        "extra": 2,
        "invalid": 0,
    }
    assert "missing: auditLogs 18: in the file, not in the database (compared by content)" in out
    assert f"extra: auditLogs {own.pk}: in the database, not in the file" in out


def test_identical_audit_logs_are_counted_not_collapsed(node_file, tmp_path):
    """The same event three times in the file (the same action by the same user in the same
    millisecond) is three rows in the database, and verifydomain counts them: one fewer is
    missing, one more is extra."""
    document = json.loads(Path(node_file).read_text(encoding="utf-8"))
    logs = document["data"]["auditLogs"]
    logs += [dict(logs[0], id=1000), dict(logs[0], id=1001)]
    path = tmp_path / "identical.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    call_command("loaddomain", "--no-input", str(path), stdout=io.StringIO())
    call_command(
        "loaddomain", "--no-input", str(path), stdout=io.StringIO()
    )  # again: nothing duplicated
    assert AuditLog.objects.count() == 4
    status, out = verify(str(path))
    assert status == 0, out
    assert summary(out, "auditLogs")["matching"] == 4

    copies = AuditLog.objects.filter(action=logs[0]["action"]).order_by("pk")
    last = copies.last()
    last.delete()
    status, out = verify(str(path))
    assert status == 1
    assert summary(out, "auditLogs") == {
        "in file": 4,
        "matching": 3,
        "missing": 1,
        "differing": 0,
        "extra": 0,
        "invalid": 0,
    }

    for _ in range(2):
        last.pk = None
        last.save()
    status, out = verify(str(path))
    assert status == 1
    assert summary(out, "auditLogs")["extra"] == 1 and summary(out, "auditLogs")["missing"] == 0
    assert f"extra: auditLogs {last.pk}: in the database, not in the file" in out
