"""On databases made by Prisma's own DDL (core/prisma/prisma-schema.sql), with no Django
migration: the guide's migration through real `manage.py` runs, with `DATABASE_URL` as in
the platform's `.env`; conflicts, natural keys, media, verification and the admin export;
and the schema check that refuses a database whose tables are not the models'.
"""

import io
import json
import tarfile

import psycopg
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse

from core.demo import seed_demo
from core.models import AuditLog, BlockchainBlock, DocumentPartage, Organization, User
from datatransfer.models import ExportRecord
from datatransfer.verifier import verify_domain
from tests.importing import import_domain
from tests.integration.datatransfer.test_schema_behind import as_older_file
from tests.subprocesses import database_url, run_manage

pytestmark = pytest.mark.django_db(transaction=True)


def platform_url(alias) -> str:
    """The URL as the platform's `.env` writes it (Prisma's `?schema=public`)."""
    return database_url(alias) + "?schema=public"


def catalogue(alias) -> list[tuple[str, str]]:
    """Every table, sequence, view and type of the database, to tell that nothing was added."""
    with psycopg.connect(database_url(alias)) as connection:
        return connection.execute(
            "SELECT c.relkind::text, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','S','v') "
            "UNION ALL SELECT 't', t.typname FROM pg_type t JOIN pg_namespace n "
            "ON n.oid = t.typnamespace WHERE n.nspname = 'public' ORDER BY 1, 2"
        ).fetchall()


def report_of(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["totals"]


@pytest.fixture
def seeded_source(make_database):
    source = make_database("prisma")
    seed_demo(scale=1, seed=42, using=source)
    return source


def test_the_guides_migration_between_two_prisma_made_databases(
    make_database, seeded_source, tmp_path
):
    target = make_database("prisma")
    before = {alias: catalogue(alias) for alias in (seeded_source, target)}
    dev, prod = (
        {"DATABASE_URL": platform_url(seeded_source)},
        {"DATABASE_URL": platform_url(target)},
    )
    file = tmp_path / "export.json"

    assert run_manage("migrate", env=prod).returncode == 0
    assert run_manage("dumpdomain", str(file), "-v", "0", env=dev).returncode == 0
    dry = run_manage("loaddomain", str(file), "--dry-run", env=prod)
    assert dry.returncode == 0 and "DRY RUN: nothing was written" in dry.stdout
    # The first time every row is new (the audit logs appended), then every row unchanged.
    for name, outcomes in (("first", ("created", "appended")), ("again", ("unchanged",))):
        run = run_manage(
            "loaddomain", "--no-input", str(file), "--report", str(tmp_path / name), env=prod
        )
        assert run.returncode == 0, run.stderr
        assert sum(report_of(tmp_path / name)[outcome] for outcome in outcomes) == 1176
    verify = run_manage("verifydomain", str(file), env=prod)
    assert verify.returncode == 0 and "The database agrees with the file." in verify.stdout
    back = tmp_path / "back.json"
    assert run_manage("dumpdomain", str(back), "-v", "0", env=prod).returncode == 0
    assert json.loads(back.read_text())["data"] == json.loads(file.read_text())["data"]
    assert {alias: catalogue(alias) for alias in (seeded_source, target)} == before


def test_migrate_refuses_a_prisma_made_database_and_writes_nothing(make_database):
    platform = make_database("prisma")
    before = catalogue(platform)
    refused = run_manage(
        "migrate", "--database", "platform", env={"DATABASE_URL": platform_url(platform)}
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "already holds the platform's tables (made by Prisma)" in refused.stderr
    assert catalogue(platform) == before


def test_values_the_platform_holds_fit_and_a_reimport_is_unchanged(make_database, tmp_path):
    """A 60-character phone (TEXT), a time with microseconds (TIMESTAMP(3) keeps
    milliseconds: compared at that precision), a big integer."""
    target = make_database("prisma")
    file = tmp_path / "values.json"
    organization = {
        "id": "corg0000000000000000000001",
        "name": "Université",
        "slug": "u",
        "type": "UNIVERSITE",
        "phone": "+225 " + "0" * 55,
        "isActive": True,
        "createdAt": "2025-01-15T10:30:00.123456Z",
        "updatedAt": "2025-01-15T10:30:00.999Z",
    }
    file.write_text(
        json.dumps({"metadata": {"version": "1.0"}, "data": {"organizations": [organization]}})
    )
    first = import_domain(file, using=target)
    assert first.totals["created"] == 1 and not first.has_failures
    row = Organization.objects.using(target).get()
    assert len(row.phone) == 60 and row.created_at.microsecond == 123000
    assert import_domain(file, using=target).totals["unchanged"] == 1


@pytest.fixture
def prisma_platform(make_database, settings):
    """A Prisma-made database as the platform's database (`DATABASE_URL`), seeded."""
    alias = make_database("prisma")
    settings.DOMAIN_DATABASE = alias
    seed_demo(scale=1, seed=42, using=alias)
    return alias


def test_conflicts_are_skipped_and_reported(prisma_platform, make_database, tmp_path):
    file = tmp_path / "export.json"
    call_command("dumpdomain", str(file), "-v", "0")
    target = make_database("prisma")
    slug = Organization.objects.order_by("slug").first().slug
    Organization.objects.using(target).create(name="Autre", slug=slug, type="AUTRE")
    report = import_domain(file, using=target)
    assert report.tables["organizations"]["skipped"] == 1
    assert any(slug in issue.message for issue in report.issues if issue.table == "organizations")


def test_match_natural_keeps_the_targets_ids(prisma_platform, make_database, tmp_path):
    file = tmp_path / "export.json"
    call_command("dumpdomain", str(file), "-v", "0")
    target = make_database("prisma")
    slug = Organization.objects.order_by("slug").first().slug
    held = Organization.objects.using(target).create(name="Autre", slug=slug, type="AUTRE")
    report = import_domain(file, using=target, match="natural")
    assert not report.has_failures and report.matched("organizations") == 1
    assert Organization.objects.using(target).get(slug=slug).pk == held.pk
    assert report.totals["skipped"] == 0


def test_media_archive_and_verify(prisma_platform, make_database, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    document = DocumentPartage.objects.order_by("pk").first()
    (settings.MEDIA_ROOT / "docs").mkdir(parents=True)
    (settings.MEDIA_ROOT / "docs" / "a.pdf").write_bytes(b"%PDF-1.4")
    DocumentPartage.objects.filter(pk=document.pk).update(file_path="docs/a.pdf")
    archive = tmp_path / "with-media.tar"
    call_command("dumpdomain", str(archive), "--with-media", "-v", "0")
    with tarfile.open(archive) as tar:
        assert "media/docs/a.pdf" in tar.getnames()
    target = make_database("prisma")
    settings.MEDIA_ROOT = tmp_path / "target-media"
    call_command(
        "loaddomain", "--no-input", str(archive), "--database", target, stdout=io.StringIO()
    )
    assert (settings.MEDIA_ROOT / "docs" / "a.pdf").read_bytes() == b"%PDF-1.4"
    assert BlockchainBlock.objects.using(target).count() == BlockchainBlock.objects.count()
    with tarfile.open(archive) as tar:
        tar.extract("export.json", tmp_path, filter="data")
    assert verify_domain(tmp_path / "export.json", using=target).agrees


def test_the_admin_exports_from_a_prisma_made_database(
    prisma_platform, admin_client, settings, tmp_path, run_worker
):
    settings.EXPORTS_DIR = tmp_path / "exports"
    organizations = list(Organization.objects.order_by("slug")[:2])
    data = {
        "action": "export_domain",
        ACTION_CHECKBOX_NAME: [o.pk for o in organizations],
        "confirm": "yes",
    }
    admin_client.post(reverse("admin:core_organization_changelist"), data)
    assert run_worker() == 1
    record = ExportRecord.objects.get()
    assert record.status == ExportRecord.Status.SUCCEEDED, record.error
    assert record.database == prisma_platform
    response = admin_client.get(
        reverse("admin:datatransfer_exportrecord_download", args=[record.pk])
    )
    document = json.loads(b"".join(response.streaming_content))
    assert {o.slug for o in organizations} <= {r["slug"] for r in document["data"]["organizations"]}
    assert AuditLog.objects.exists() and User.objects.exists()


# ---------------------------------------------------------------------------- schema check


def alter(alias, *statements):
    with psycopg.connect(database_url(alias), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.mark.parametrize(
    "statements, named",
    [
        (['ALTER TABLE "User" DROP COLUMN "phone"'], "missing columns User.phone"),
        (['DROP TABLE "AuditLog"'], "missing tables AuditLog"),
        (
            ['ALTER TABLE "User" ALTER COLUMN "phone" TYPE varchar(50)'],
            "User.phone is character varying(50) where the models expect text",
        ),
        (
            ['ALTER TABLE "User" ADD COLUMN "nickname" TEXT'],
            "columns the models do not have User.nickname",
        ),
        (["ALTER TYPE \"Role\" ADD VALUE 'GUEST'"], '"Role" has GUEST that the models do not'),
    ],
)
def test_a_database_unlike_the_models_is_refused_naming_what_differs(
    make_database, tmp_path, statements, named
):
    platform = make_database("prisma")
    alter(platform, *statements)
    before = catalogue(platform)
    file = tmp_path / "export.json"
    file.write_text('{"metadata": {"version": "1.0"}, "data": {}}')
    for args in (
        ("dumpdomain", str(tmp_path / "out.json")),
        ("loaddomain", "--no-input", str(file)),
    ):
        run = run_manage(*args, env={"DATABASE_URL": platform_url(platform)})
        assert run.returncode == 2 and "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0]
    assert not (tmp_path / "out.json").exists() and catalogue(platform) == before


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_a_database_never_migrated_or_a_wrong_schema_is_refused_in_one_line(
    make_database, tmp_path, vendor
):
    empty = tmp_path / "empty.sqlite3"
    url = f"sqlite:///{empty}"
    if vendor == "postgresql":
        url = platform_url(make_database("prisma")).replace("schema=public", "schema=other")
    run = run_manage("dumpdomain", str(tmp_path / "out.json"), env={"DATABASE_URL": url})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "has none of the platform's tables" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


# ---------------------------------------------------------------------------- which side is behind


def prisma_migrations(alias, *names):
    """A `_prisma_migrations` table as Prisma makes it, with `names` applied."""
    alter(
        alias,
        'CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY, '
        '"checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, '
        '"migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ, '
        '"started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), '
        '"applied_steps_count" INTEGER NOT NULL DEFAULT 0)',
        *(
            'INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", '
            f"\"migration_name\") VALUES ('{number}', 'x', now(), '{name}')"
            for number, name in enumerate(names)
        ),
    )


def test_a_target_whose_migrations_are_behind_is_refused_naming_what_it_lacks(
    make_database, seeded_source, tmp_path
):
    target = make_database("prisma")
    prisma_migrations(seeded_source, "20250101000000_init", "20250301000000_phone")
    prisma_migrations(target, "20250101000000_init")
    alter(target, 'ALTER TABLE "User" DROP COLUMN "phone"')
    before = catalogue(target)
    file = tmp_path / "export.json"
    dev, prod = (
        {"DATABASE_URL": platform_url(seeded_source)},
        {"DATABASE_URL": platform_url(target)},
    )
    assert run_manage("dumpdomain", str(file), "-v", "0", env=dev).returncode == 0
    recorded = json.loads(file.read_text())["metadata"]["manifest"]["sourceSchema"]
    assert recorded["migrations"] == ["20250101000000_init", "20250301000000_phone"]
    for args in (("loaddomain", "--no-input", str(file)), ("loaddomain", str(file), "--dry-run")):
        run = run_manage(*args, env=prod)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        (line,) = run.stderr.strip().splitlines()
        assert "is behind the file's source: it lacks User.phone" in line
        assert "20250301000000_phone" in line and "`prisma migrate deploy` there" in line
    assert catalogue(target) == before
    with psycopg.connect(database_url(target)) as connection:
        assert connection.execute('SELECT count(*) FROM "User"').fetchone() == (0,)


def test_a_source_whose_migrations_are_behind_the_models_says_so(make_database, tmp_path):
    source = make_database("prisma")
    alter(source, 'ALTER TABLE "User" DROP COLUMN "phone"')
    run = run_manage(
        "dumpdomain", str(tmp_path / "out.json"), env={"DATABASE_URL": platform_url(source)}
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "missing columns User.phone. Its migrations are behind the models" in line
    assert "`prisma migrate deploy` there" in line
    newer = make_database("prisma")
    alter(newer, 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT')
    run = run_manage(
        "dumpdomain", str(tmp_path / "out.json"), env={"DATABASE_URL": platform_url(newer)}
    )
    assert "The models are behind it" in run.stderr and "inspectprisma" in run.stderr
    assert not (tmp_path / "out.json").exists()


def test_a_file_from_an_older_schema_fills_what_it_lacks_and_names_the_migrations(
    make_database, seeded_source, tmp_path
):
    """The file an older schema made, without User.phone, into a target that has it (and a
    migration the source lacked): updated rows keep their phone, created rows get NULL."""
    target = make_database("prisma")
    prisma_migrations(seeded_source, "20250101000000_init")
    prisma_migrations(target, "20250101000000_init", "20250301000000_phone")
    file = tmp_path / "export.json"
    dev, prod = (
        {"DATABASE_URL": platform_url(seeded_source)},
        {"DATABASE_URL": platform_url(target)},
    )
    assert run_manage("dumpdomain", str(file), "-v", "0", env=dev).returncode == 0
    document = json.loads(file.read_text())
    as_older_file(document, "users", "User", "phone", "phone")
    file.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    first = run_manage("loaddomain", "--no-input", str(file), env=prod)
    assert first.returncode == 0, first.stderr
    assert "User.phone (NULL in a created row)" in first.stdout
    assert "20250301000000_phone" in first.stdout
    alter(target, """UPDATE "User" SET "phone" = '+33 1 00 00 00 00'""")
    again = run_manage("loaddomain", "--no-input", str(file), env=prod)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(database_url(target)) as connection:
        phones = connection.execute('SELECT DISTINCT "phone" FROM "User"').fetchall()
    assert phones == [("+33 1 00 00 00 00",)]
