"""Configuration that fails loudly: an env file that is named but missing, no platform
database, `${VAR}` references in the env file, and `--env-file` on every command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.envfile import read_env_file
from tests.subprocesses import ROOT

PRINT_SETTING = "from django.conf import settings; print(settings.{})"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "platform.env"
    path.write_text(text, encoding="utf-8")
    return path


def test_references_are_expanded_from_the_environment_and_earlier_lines(tmp_path):
    path = write(
        tmp_path,
        "DB_USER=app\n"
        "DB_HOST=db.example.fr\n"
        'DATABASE_URL="postgresql://${DB_USER}@${DB_HOST}:${DB_PORT:-5432}/$DB_NAME?schema=public"\n'
        "GREETING=hello-$WHO\n"
        "LITERAL='pa$word ${DB_USER}'\n"
        'ESCAPED="cost \\$5 for $DB_USER"\n'
        "EMPTY_DEFAULT=${UNSET_ONE:-fallback}/${UNSET_TWO}\n",
    )
    values = read_env_file(path, {"DB_NAME": "platform_prod", "WHO": "world"})
    assert (
        values["DATABASE_URL"] == "postgresql://app@db.example.fr:5432/platform_prod?schema=public"
    )
    assert values["GREETING"] == "hello-world"
    assert values["LITERAL"] == "pa$word ${DB_USER}"
    assert values["ESCAPED"] == "cost $5 for app"
    assert values["EMPTY_DEFAULT"] == "fallback/"


def test_the_environment_wins_over_the_file_in_references_too(tmp_path):
    path = write(tmp_path, "DB_HOST=from-file\nURL=postgres://u@${DB_HOST}/db\n")
    values = read_env_file(path, {"DB_HOST": "from-environment"})
    assert values["URL"] == "postgres://u@from-environment/db"


def test_the_file_is_read_as_django_environ_reads_it(tmp_path):
    path = write(
        tmp_path,
        '# a comment\n\nexport SECRET_KEY=abc#def\nQUOTED="a\\nb"\nnot a line\n',
    )
    assert read_env_file(path, {}) == {"SECRET_KEY": "abc#def", "QUOTED": "a\\nb"}


def run_project(*args, env=None, cwd=ROOT) -> subprocess.CompletedProcess:
    """`manage.py ARGS` with the project's settings (the test suite's name ENV_FILE and
    the platform's database), the test session's environment otherwise, plus `env`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.e2e
def test_an_env_file_that_does_not_exist_is_an_error(tmp_path):
    missing = tmp_path / ".env.production"
    result = run_project("check", env={"ENV_FILE": str(missing)})
    assert result.returncode == 2
    assert one_line(result) == (
        f"Configuration error: ENV_FILE names {missing}, which does not exist."
    )


@pytest.mark.e2e
def test_dev_null_stays_a_valid_env_file():
    result = run_project("check", env={"ENV_FILE": os.devnull})
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
def test_env_file_flag_reads_that_file_for_any_command(tmp_path):
    path = write(tmp_path, "SECRET_KEY=from-the-flag\n")
    for flag in (["--env-file", str(path)], [f"--env-file={path}"]):
        result = run_project("shell", *flag, "-c", PRINT_SETTING.format("SECRET_KEY"))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "from-the-flag"


@pytest.mark.e2e
def test_env_file_flag_is_relative_to_the_current_directory(tmp_path):
    write(tmp_path, "SECRET_KEY=relative\n")
    result = run_project(
        "--env-file",
        "platform.env",
        "shell",
        "-c",
        PRINT_SETTING.format("SECRET_KEY"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "relative"


@pytest.mark.e2e
def test_env_file_flag_naming_a_missing_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.env"
    result = run_project("check", "--env-file", str(missing))
    assert result.returncode == 2
    assert one_line(result) == f"--env-file names {missing}, which does not exist."
    result = run_project("check", "--env-file")
    assert result.returncode == 2
    assert one_line(result) == "--env-file needs a path: --env-file PATH."


@pytest.mark.e2e
def test_env_file_references_reach_the_settings(tmp_path):
    path = write(tmp_path, "DB_HOST=db.example.fr\nDATABASE_URL_PROD=postgres://u@${DB_HOST}/p\n")
    result = run_project(
        "--env-file", str(path), "shell", "-c", PRINT_SETTING.format("DATABASES['prod']['HOST']")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "db.example.fr"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ["dumpdomain", "{tmp}/out.json"],
        ["dumpdomain", "--verbosity", "0", "{tmp}/out.json"],
        ["loaddomain", "{tmp}/in.json", "--dry-run"],
        ["verifydomain", "{tmp}/in.json"],
        ["seeddemo"],
    ],
)
def test_platform_commands_refuse_without_database_url(tmp_path, args):
    (tmp_path / "in.json").write_text("{}", encoding="utf-8")
    sqlite = ROOT / "db.sqlite3"
    before = sqlite.stat().st_mtime_ns if sqlite.exists() else None
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", *(arg.format(tmp=tmp_path) for arg in args)],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings", "ENV_FILE": os.devnull},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    line = one_line(result)
    assert "The platform's database is not configured: set DATABASE_URL" in line
    assert result.stdout == ""
    assert (sqlite.stat().st_mtime_ns if sqlite.exists() else None) == before
    assert not (tmp_path / "out.json").exists()
