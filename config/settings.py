"""Settings of the project, read from the environment (and a `.env` file when present).

`ENV_FILE` picks another file (`ENV_FILE=.env.production`, or `--env-file` on the command
line: manage.py); a file it names must exist. Variables already in the environment win over
the file's; the file's `${VAR}` references are expanded (config/envfile.py).
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.database_urls import PLATFORM_ALIAS, databases_from_env
from config.envfile import read_env_file

BASE_DIR = Path(__file__).resolve().parent.parent


def load_env_file(base_dir: Path) -> None:
    """Put the env file's variables into the environment, where they are not already set.

    `.env` at the project root is optional; a file ENV_FILE names is not: reading nothing
    would fall back to defaults (another database) without a word."""
    named = os.environ.get("ENV_FILE")
    path = Path(named if named is not None else base_dir / ".env")
    if not path.is_absolute():
        path = base_dir / path
    if named is not None and not named.strip():
        raise ImproperlyConfigured("ENV_FILE is empty: name a file (/dev/null for none).")
    if named is None and not path.is_file():
        return
    if not path.exists():
        raise ImproperlyConfigured(f"ENV_FILE names {path}, which does not exist.")
    try:
        values = read_env_file(path, os.environ)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ImproperlyConfigured(f"Cannot read the env file {path}: {reason}.") from None
    for key, value in values.items():
        os.environ.setdefault(key, value)


load_env_file(BASE_DIR)
env = environ.Env()

# A development key: production sets SECRET_KEY in its environment.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-development-only")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    # WhiteNoise serves static files under runserver too, as in production (DEBUG or not).
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_tasks_db: its `db_worker` command is datatransfer's (which first sweeps
    # up what a killed worker left behind, see datatransfer/leftovers.py).
    "datatransfer",
    # The tasks framework (Django 6's, backported) and its database backend: admin exports
    # run in `python manage.py db_worker`, not in the HTTP request.
    "django_tasks",
    "django_tasks_db",
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = databases_from_env(os.environ, BASE_DIR)
# The domain's models (core) live in the platform's database, everything else in the
# project's own: see datatransfer/routers.py.
DATABASE_ROUTERS = ["datatransfer.routers.DomainRouter"]
DOMAIN_DATABASE = PLATFORM_ALIAS

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The admin's CSS and JavaScript, served by the application itself (WhiteNoise) with DEBUG
# off: straight from the installed packages (their finders), so no collectstatic and no web
# server rule are needed. STATIC_ROOT (optional) is where `collectstatic` copies them for a
# web server in front; WhiteNoise serves that folder too when it is set.
STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With a key, dumpdomain signs its files (HMAC-SHA256) and loaddomain loads only files
# signed with it; empty: nothing is signed and signatures are not checked.
DATATRANSFER_SIGNING_KEY = env.str("DATATRANSFER_SIGNING_KEY", default="")
# The key of anonymized exports (dumpdomain --anonymize, docs/masking.md): the same key gives
# the same masks on every run. Empty: anonymized exports are refused.
DATATRANSFER_ANONYMIZE_KEY = env.str("DATATRANSFER_ANONYMIZE_KEY", default="")

# The most one value (a string, a number) of an export file may take, in MB: a file with a
# longer one is refused when it is read (exit status 2), as soon as that much of it is read.
# Reading a value takes a few times its size in memory.
DATATRANSFER_MAX_VALUE_BYTES = env.int("DATATRANSFER_MAX_VALUE_MB", default=64) * 1024 * 1024

# Background tasks (admin exports): queued in the project's database (`default`), run by
# `python manage.py db_worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# How long (seconds) an import waits for a lock another session holds on PostgreSQL before
# it gives up, rolled back (`loaddomain --lock-timeout` for one run); 0: as long as it takes.
DATATRANSFER_LOCK_TIMEOUT = env.float("DATATRANSFER_LOCK_TIMEOUT", default=30.0)

# Where exports land by default, and where uploaded documents live.
EXPORTS_DIR = Path(env.str("EXPORTS_DIR", default=str(BASE_DIR / "exports")))
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "uploads")))

# Export files older than this many days are deleted by `python manage.py pruneexports`
# (their history rows stay); 0 keeps them forever.
DATATRANSFER_EXPORT_RETENTION_DAYS = env.int("DATATRANSFER_EXPORT_RETENTION_DAYS", default=30)

# Files uploaded in the admin to be imported: kept here, privately (mode 0600, named by their
# SHA-256), never under MEDIA_ROOT or the static files; larger files are refused (MB).
DATATRANSFER_IMPORTS_DIR = Path(
    env.str("DATATRANSFER_IMPORTS_DIR", default=str(EXPORTS_DIR / "imports"))
)
DATATRANSFER_IMPORT_MAX_SIZE = env.int("DATATRANSFER_IMPORT_MAX_MB", default=1024) * 1024 * 1024

# The undo journals of real imports (`revertimport RUN`): private (0600), holding secrets as
# an export does, and deleted with the export files by `pruneexports`.
DATATRANSFER_JOURNAL_DIR = Path(
    env.str("DATATRANSFER_JOURNAL_DIR", default=str(EXPORTS_DIR / "journal"))
)

# Private working files of the commands and the worker (standard input spooled, copies of
# uploads, archives taken out), one 0700 folder per process, and the locks telling which
# processes still run: what a killed run leaves is removed at the next start.
DATATRANSFER_WORK_DIR = Path(env.str("DATATRANSFER_WORK_DIR", default=str(EXPORTS_DIR / "work")))

# `loaddomain -` copies standard input to a private temporary file first (the import reads
# its file twice): larger input is refused (MB); give the file's path instead.
DATATRANSFER_STDIN_MAX_SIZE = env.int("DATATRANSFER_STDIN_MAX_MB", default=4096) * 1024 * 1024
