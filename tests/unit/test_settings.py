"""Database settings from DATABASE_URL, PROJECT_DATABASE_URL and DATABASE_URL_<NAME>."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.database_urls import database_from_url, databases_from_env, redacted_url
from tests.subprocesses import run_manage


def test_no_url_gives_the_project_a_sqlite_file_and_the_platform_none():
    """The platform's database is never guessed: with no DATABASE_URL its alias refuses
    every use (config/unset_database), rather than create an empty db.sqlite3."""
    databases = databases_from_env({}, Path("/srv/app"))
    assert databases == {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/app/project.sqlite3"},
        "platform": {"ENGINE": "config.unset_database"},
    }


def test_database_url_is_the_platform_database_and_the_project_keeps_its_own():
    databases = databases_from_env(
        {"DATABASE_URL": "postgres://app:secret@db.example.fr:5433/partage"}, Path("/srv/app")
    )
    platform = databases["platform"]
    assert platform["ENGINE"] == "django.db.backends.postgresql"
    assert (platform["HOST"], platform["PORT"], platform["NAME"]) == (
        "db.example.fr",
        5433,
        "partage",
    )
    assert (platform["USER"], platform["PASSWORD"]) == ("app", "secret")
    assert databases["default"]["NAME"] == "/srv/app/project.sqlite3"


def test_project_database_url_moves_the_project_database():
    databases = databases_from_env(
        {"PROJECT_DATABASE_URL": "postgres://u@h:5432/transfer"}, Path("/srv/app")
    )
    assert databases["default"]["NAME"] == "transfer"


def test_each_database_url_name_adds_a_lower_case_alias():
    databases = databases_from_env(
        {
            "DATABASE_URL_TARGET": "sqlite:////tmp/target.sqlite3",
            "DATABASE_URL_LEGACY_PG": "postgresql://u@h:5432/legacy",
            "DATABASE_URL_EMPTY": "",
            "DATABASE_URL_": "sqlite:////tmp/nameless.sqlite3",
            "UNRELATED": "sqlite:////tmp/x.sqlite3",
        },
        Path("/srv/app"),
    )
    assert set(databases) == {"default", "platform", "target", "legacy_pg"}
    assert databases["target"]["NAME"] == "/tmp/target.sqlite3"
    assert databases["legacy_pg"]["NAME"] == "legacy"


@pytest.mark.parametrize("name", ["DATABASE_URL_DEFAULT", "DATABASE_URL_PLATFORM"])
def test_an_alias_cannot_replace_the_project_or_platform_database(name):
    with pytest.raises(ImproperlyConfigured, match=f"{name} is not allowed"):
        databases_from_env({name: "sqlite:////tmp/x.sqlite3"}, Path("/srv/app"))


def test_prisma_url_keeps_the_schema_and_drops_prisma_parameters():
    config = database_from_url(
        "postgresql://user:pass@host:5432/db?schema=public&connection_limit=5&sslmode=require"
    )
    assert config["NAME"] == "db"
    assert config["OPTIONS"]["options"] == "-c search_path=public"
    assert config["OPTIONS"]["sslmode"] == "require"
    assert "connection_limit" not in config["OPTIONS"]
    assert "schema" not in config["OPTIONS"]


def test_prisma_url_without_schema_has_no_search_path():
    config = database_from_url("postgresql://user:pass@host:5432/db?connection_limit=5")
    assert "options" not in config.get("OPTIONS", {})
    assert "connection_limit" not in config.get("OPTIONS", {})


def test_redacted_url_hides_the_password():
    redacted = redacted_url("postgresql://user:s3cr%40t@host:5432/db?schema=public")
    assert redacted == "postgresql://user:***@host:5432/db?schema=public"
    assert "s3cr" not in redacted
    assert redacted_url("sqlite:////tmp/db.sqlite3") == "sqlite:////tmp/db.sqlite3"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "url, message",
    [
        ("postgres://app:hunter2@h:abc/db", "DATABASE_URL is not a valid database URL"),
        ("postgres://app:hunter2@[::1/db", "DATABASE_URL is not a valid database URL"),
        ("postgres://app:hunter2@h/db?connect_timeout=abc", "connect_timeout='abc' is not"),
        ("foo://app:hunter2@h/db", "DATABASE_URL has the scheme 'foo://'"),
    ],
)
def test_a_bad_database_url_is_one_line_exit_2_without_the_password(url, message):
    result = run_manage("check", env={"DATABASE_URL": url})
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr + result.stdout
