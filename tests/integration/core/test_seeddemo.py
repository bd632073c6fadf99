"""seeddemo: every table filled, the same rows for the same seed on any database."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from core import models
from core.demo import DOMAIN_MODELS, USER_PERMISSIONS, seed_demo
from datatransfer.registry import domain_models

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(using: str) -> dict:
    """Every field of every row of every domain table, and the users' permissions."""
    tables = {}
    for model in domain_models():
        fields = [field.attname for field in model._meta.concrete_fields]
        tables[model._meta.label] = {
            row["id"]: row for row in model.objects.using(using).order_by("pk").values(*fields)
        }
    through = models.User.permissions.through
    tables[USER_PERMISSIONS] = set(
        through.objects.using(using).values_list("user_id", "permission_id")
    )
    return tables


def test_scale_one_fills_every_table_with_about_a_thousand_rows():
    out = StringIO()
    call_command("seeddemo", stdout=out)
    counts = {key: model.objects.count() for key, model in DOMAIN_MODELS.items()}
    assert all(counts.values()), counts
    assert 1_000 <= sum(counts.values()) <= 1_300
    assert models.User.permissions.through.objects.exists()
    assert "auditLogs" in out.getvalue() and "Seeded 'platform'" in out.getvalue()


def test_data_set_has_the_shapes_of_the_real_one():
    seed_demo(scale=1, seed=42, using="platform")
    owned = models.Organization.objects.exclude(owner=None).select_related("owner")
    assert owned.exists()
    assert all(org.owner.organization_id == org.id for org in owned)
    assert models.Organization.objects.filter(owner=None).exists()
    assert models.User.objects.filter(organization=None).exists()
    assert models.SiteSettings.objects.get().id == "default"

    blocks = list(models.BlockchainBlock.objects.order_by("index"))
    assert blocks[0].previous_block_id is None
    for previous, block in zip(blocks, blocks[1:], strict=False):
        assert block.previous_block_id == previous.id
        assert block.previous_hash == previous.hash

    codes = list(models.DemandePartage.objects.values_list("code", flat=True))
    assert all(code.startswith("DP20") and len(code) in (14, 16) for code in codes)
    paths = models.DocumentPartage.objects.values_list("file_path", "owner_org__slug", "id")
    assert any(path is None for path, _, _ in paths)
    for path, slug, id_ in paths:
        assert path is None or path == f"documents/{slug}/{id_}.pdf"
    assert models.DocumentPartage.objects.filter(code_adn=None).count() >= 2

    assert list(models.AuditLog.objects.order_by("id").values_list("id", flat=True)) == list(
        range(1, 201)
    )
    # The sequence follows the explicit ids.
    assert models.AuditLog.objects.create(action="LOGIN", entity="User").id == 201


def test_same_seed_gives_the_same_rows_on_sqlite_and_postgresql(make_database):
    sqlite, postgresql = make_database("sqlite"), make_database("postgresql")
    assert seed_demo(scale=1, seed=42, using=sqlite) == seed_demo(
        scale=1, seed=42, using=postgresql
    )
    first, second = snapshot(sqlite), snapshot(postgresql)
    assert first.keys() == second.keys()
    for table in first:
        assert first[table] == second[table], table
    assert len(first["core.DemandePartage"]) == 150


def test_another_seed_gives_other_data(make_database):
    other = make_database("sqlite")
    seed_demo(scale=1, seed=42, using="platform")
    seed_demo(scale=1, seed=43, using=other)
    first, second = snapshot("platform"), snapshot(other)
    assert set(first["core.User"]).isdisjoint(second["core.User"])
    assert [u["email"] for u in first["core.User"].values()] != [
        u["email"] for u in second["core.User"].values()
    ]


def test_refuses_a_database_with_domain_rows():
    models.ContactMessage.objects.create(name="Zoé", email="zoe@example.fr", message="Bonjour")
    with pytest.raises(CommandError, match="already holds domain rows.*--force"):
        call_command("seeddemo", stdout=StringIO())
    assert models.ContactMessage.objects.count() == 1
    assert not models.Organization.objects.exists()


def test_force_replaces_the_existing_rows():
    seed_demo(scale=1, seed=7, using="platform")
    models.ContactMessage.objects.create(name="Zoé", email="zoe@example.fr", message="Bonjour")
    before = snapshot("platform")
    out = StringIO()
    with pytest.raises(CommandError, match="only when you name it: --force --confirm platform"):
        call_command("seeddemo", "--force", "--seed", "7", stdout=out)
    with pytest.raises(CommandError, match="only when you name it"):
        call_command("seeddemo", "--force", "--confirm", "default", "--seed", "7", stdout=out)
    assert snapshot("platform") == before
    call_command("seeddemo", "--force", "--confirm", "platform", "--seed", "7", stdout=out)
    assert "--force: deleting the domain rows" in out.getvalue()
    assert snapshot("platform") == {
        **before,
        "core.ContactMessage": {
            key: row for key, row in before["core.ContactMessage"].items() if row["name"] != "Zoé"
        },
    }


def test_scale_multiplies_the_organization_tables():
    counts = seed_demo(scale=2, seed=1, using="platform")
    assert counts["organizations"] == 20 and counts["auditLogs"] == 400
    assert counts["permissions"] == 20 and counts["siteSettings"] == 1


def test_quiet_verbosity_prints_nothing():
    out = StringIO()
    call_command("seeddemo", verbosity=0, stdout=out)
    assert out.getvalue() == ""


def test_command_line_reports_a_refusal_in_one_line(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run("migrate", "--database", "platform", "-v0").returncode == 0
    assert run("seeddemo", "-v0").returncode == 0
    refused = run("seeddemo")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().startswith("CommandError: The database 'platform' already holds")


def test_the_help_and_the_readme_give_the_rows_per_scale_that_seeddemo_writes():
    from core.demo import row_counts
    from core.management.commands.seeddemo import Command

    first, second = sum(row_counts(1).values()), sum(row_counts(2).values())
    figures = f"{first:,} rows at --scale 1, then {second - first:,} more per unit of --scale"
    assert figures in Command.help
    readme = " ".join((settings.BASE_DIR / "README.md").read_text(encoding="utf-8").split())
    assert figures in readme
    assert f"({sum(row_counts(100).values()):,} at scale 100)" in readme


def test_seeddemo_shows_a_bar_per_table_on_a_terminal():
    class Terminal(StringIO):
        def isatty(self):
            return True

    err = Terminal()
    call_command("seeddemo", stdout=StringIO(), stderr=err)
    assert "[16/16] auditLogs" in err.getvalue()
