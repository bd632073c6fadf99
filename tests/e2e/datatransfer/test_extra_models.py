"""A 17th and an 18th domain model travel with nothing but their `transfer` declaration.

tests/extramodels (enabled by tests/settings_extended.py, in `manage.py` subprocesses
only) adds a Category (an organization's: a foreign key to a core model, a natural key,
the irregular plural file key `categories`) and an Attachment (a foreign key to a
category and one to a user, an uploaded file, a secret). They are exported, archived with
their files, imported (matched by natural key), verified, and taken in an organization's
subset, on this run's database (SQLite, or PostgreSQL when DATABASE_URL is).
"""

import json
import tarfile
from pathlib import Path

import pytest
from django.db import connections

from datatransfer.registry import domain_tables
from tests.subprocesses import database_url, run_manage

TOKEN = "d0wnl0ad-t0ken-0f-the-first-attachment"
FILES = {
    "attachments/plan-a.pdf": b"%PDF-1.7 plan A\x00\xff",
    "attachments/plan-b.pdf": b"B" * 5000,
}
SEED = f"""
import json
from core.models import Organization, User
from tests.extramodels.models import Attachment, Category
first, second = Organization.objects.order_by("slug")[:2]
outsider = User.objects.exclude(organization=first).order_by("email").first()
plans = Category.objects.create(organization=first, code="plans", name="Plans")
theirs = Category.objects.create(organization=second, code="plans", name="Plans")
Attachment.objects.create(
    category=plans, uploaded_by=outsider, file="attachments/plan-a.pdf", download_token="{TOKEN}"
)
Attachment.objects.create(category=theirs, file="attachments/plan-b.pdf", download_token="b")
print(json.dumps([first.slug, outsider.id]))
"""
MADE_IN_TARGET = """
from core.models import Organization
from tests.extramodels.models import Category
organization = Organization.objects.get(slug="{slug}")
Category.objects.create(id=50, organization=organization, code="plans", name="Made here")
"""
SECRET_CHANGED = """
from tests.extramodels.models import Attachment
Attachment.objects.filter(download_token="{token}").update(download_token="changed-here")
"""


def manage(env, *args, status=0) -> str:
    """Run manage.py with the extended settings on `env`'s database; return its output."""
    run = run_manage(*args, env=env, timeout=300)
    assert run.returncode == status, run.stdout + run.stderr
    return run.stdout + run.stderr


def platform(alias, tmp_path, name) -> dict:
    """The environment of a platform database with the two extra tables, and its uploads."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings_extended",
        "DATABASE_URL": database_url(alias),
        "MEDIA_ROOT": str(tmp_path / name / "uploads"),
        "EXPORTS_DIR": str(tmp_path / "exports"),
    }
    manage(env, "migrate", "--database", "platform", "-v", "0")
    return env


def archive(path) -> tuple[dict, dict]:
    """(the export's document, {media path: bytes}) of an archive."""
    with tarfile.open(path) as tar:
        document = json.load(tar.extractfile("export.json"))
        media = {
            member.name.removeprefix("media/"): tar.extractfile(member).read()
            for member in tar
            if member.isreg() and member.name.startswith("media/")
        }
    (path.parent / f"{path.stem}.json").write_text(json.dumps(document))
    return document, media


def uploads(env) -> dict:
    root = Path(env["MEDIA_ROOT"])
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def vendor():
    return "postgresql" if connections["platform"].vendor == "postgresql" else "sqlite"


@pytest.mark.e2e
def test_a_17th_and_an_18th_model_travel_with_no_change_to_datatransfer(
    make_database, tmp_path, vendor
):
    source, target, empty = (
        platform(make_database(vendor), tmp_path, name) for name in ("source", "target", "empty")
    )
    manage(source, "seeddemo", "--scale", "1", "-v", "0")
    slug, outsider = json.loads(manage(source, "shell", "-c", SEED).splitlines()[-1])
    for name, data in FILES.items():
        (tmp_path / "source" / "uploads" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "source" / "uploads" / name).write_bytes(data)

    # Exported and archived: the two tables after the platform's 16, their files with them.
    manage(source, "dumpdomain", str(tmp_path / "full.tar"), "--with-media", "-v", "0")
    document, media = archive(tmp_path / "full.tar")
    assert list(document["data"]) == [t.key for t in domain_tables()] + [
        "categories",
        "attachments",
    ]
    assert media == FILES
    attachments = {row["file"]: row for row in document["data"]["attachments"]}
    assert attachments["attachments/plan-a.pdf"]["downloadToken"] == TOKEN
    category = attachments["attachments/plan-a.pdf"]["categoryId"]

    # Imported into a target that has the first organization's category under another id:
    # the natural key (organization, code) finds it, the attachment follows; files restored.
    manage(source, "dumpdomain", str(tmp_path / "core.json"), "-e", "categories,attachments")
    manage(target, "loaddomain", "--no-input", str(tmp_path / "core.json"))
    manage(target, "shell", "-c", MADE_IN_TARGET.format(slug=slug))
    report = tmp_path / "report.json"
    manage(
        target,
        "loaddomain",
        "--no-input",
        str(tmp_path / "full.tar"),
        "--match",
        "natural",
        "--report",
        str(report),
    )
    mapping = json.loads(report.read_text())["idMapping"]["categories"]
    assert {str(key): str(value) for key, value in mapping.items()} == {str(category): "50"}
    assert uploads(target) == FILES
    verified = manage(target, "verifydomain", str(tmp_path / "full.json"), "--match", "natural")
    assert "The database agrees with the file." in verified

    # Verified, a secret differing: named, never shown.
    manage(target, "shell", "-c", SECRET_CHANGED.format(token=TOKEN))
    output = manage(
        target,
        "verifydomain",
        str(tmp_path / "full.json"),
        "--match",
        "natural",
        "-v",
        "2",
        status=1,
    )
    assert "downloadToken" in output and "(a secret, not shown)" in output
    assert TOKEN not in output and "changed-here" not in output

    # An organization's subset: its category and attachment with its file; the uploader
    # of another organization as a reference without its password hash. It loads on its own.
    manage(
        source, "dumpdomain", str(tmp_path / "subset.tar"), "--with-media", "--organization", slug
    )
    document, media = archive(tmp_path / "subset.tar")
    data = document["data"]
    assert [row["id"] for row in data["categories"]] == [category]
    assert [row["file"] for row in data["attachments"]] == ["attachments/plan-a.pdf"]
    assert data["attachments"][0]["downloadToken"] == TOKEN
    assert outsider in document["metadata"]["references"]["users"]
    assert [u["passwordHash"] for u in data["users"] if u["id"] == outsider] == [""]
    assert media == {"attachments/plan-a.pdf": FILES["attachments/plan-a.pdf"]}
    manage(empty, "loaddomain", "--no-input", str(tmp_path / "subset.tar"))
    assert uploads(empty) == media
    verified = manage(empty, "verifydomain", str(tmp_path / "subset.json"))
    assert "The database agrees with the file." in verified
