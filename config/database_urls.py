"""Database settings from URLs.

`DATABASE_URL` is the platform's database (alias `platform`), as in the platform's own
`.env`: the domain's tables, made by Prisma, which the commands read and write as they
are. `DATABASE_URL_<NAME>` adds the alias `<name>` (another platform database, such as
production). `PROJECT_DATABASE_URL` is this project's own database (alias `default`:
export history, admin accounts, sessions), a SQLite file in the project by default; it
is the only one `migrate` touches.

Accepts the platform's Prisma URLs as they are: `?schema=X` becomes the connection's
search_path and Prisma-only parameters never reach psycopg.
"""

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# Query parameters that libpq understands; anything else in a URL (Prisma's
# connection_limit, pool_timeout, pgbouncer, ...) would make psycopg refuse to connect.
LIBPQ_PARAMETERS = frozenset(
    {
        "application_name",
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "options",
        "passfile",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
    }
)
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql"})
SQLITE_SCHEMES = frozenset({"sqlite"})
# libpq parameters whose value is a number: a typo there would only fail at connection.
INTEGER_PARAMETERS = frozenset(
    {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"}
)
URL_PREFIX = "DATABASE_URL_"
PROJECT_ALIAS = "default"
PLATFORM_ALIAS = "platform"


def database_from_url(url: str, variable: str = "DATABASE_URL") -> dict:
    """Return a Django `DATABASES` entry for `url` (a PostgreSQL or SQLite URL).

    Raises ImproperlyConfigured, naming `variable` but never the password, for a URL that
    cannot be parsed, another scheme, a port or a numeric parameter that is not a number.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is what raises)
    except ValueError as error:
        raise ImproperlyConfigured(f"{variable} is not a valid database URL: {error}.") from None
    if parts.scheme in SQLITE_SCHEMES:
        return environ.Env.db_url_config(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        known = ", ".join(f"{scheme}://" for scheme in sorted(POSTGRES_SCHEMES | SQLITE_SCHEMES))
        raise ImproperlyConfigured(
            f"{variable} has the scheme '{parts.scheme}://', which this project does not "
            f"use (use one of {known})."
        )
    params = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in params:
        if key in INTEGER_PARAMETERS and not value.strip().isdigit():
            raise ImproperlyConfigured(f"{variable}: {key}={value!r} is not a whole number.")
    schema = next((value for key, value in params if key == "schema"), None)
    kept = [(key, value) for key, value in params if key in LIBPQ_PARAMETERS]
    config = environ.Env.db_url_config(urlunsplit(parts._replace(query=urlencode(kept))))
    if schema:
        options = config.setdefault("OPTIONS", {})
        search_path = f"-c search_path={schema}"
        options["options"] = (
            f"{options['options']} {search_path}" if "options" in options else search_path
        )
    return config


UNSET_ENGINE = "config.unset_database"


def _sqlite(path) -> dict:
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}


def is_unset(config: dict) -> bool:
    """Whether a `DATABASES` entry is the platform's when DATABASE_URL is not set."""
    return config.get("ENGINE") == UNSET_ENGINE


def databases_from_env(env: dict, base_dir) -> dict:
    """Return `DATABASES`: `default` from `PROJECT_DATABASE_URL` (SQLite `project.sqlite3`
    in `base_dir` when unset), `platform` from `DATABASE_URL` (when unset, a backend that
    refuses every use: config/unset_database), and every `DATABASE_URL_<NAME>` as the
    alias `<name>`.

    Raises ImproperlyConfigured for a `DATABASE_URL_<NAME>` that would replace one of the
    first two."""
    project_url, platform_url = env.get("PROJECT_DATABASE_URL"), env.get("DATABASE_URL")
    databases = {
        PROJECT_ALIAS: database_from_url(project_url, "PROJECT_DATABASE_URL")
        if project_url
        else _sqlite(Path(base_dir) / "project.sqlite3"),
        PLATFORM_ALIAS: database_from_url(platform_url)
        if platform_url
        else {"ENGINE": UNSET_ENGINE},
    }
    for key in sorted(env):
        if key.startswith(URL_PREFIX) and len(key) > len(URL_PREFIX) and env[key]:
            alias = key[len(URL_PREFIX) :].lower()
            if alias in (PROJECT_ALIAS, PLATFORM_ALIAS):
                raise ImproperlyConfigured(
                    f"{key} is not allowed: the alias '{alias}' comes from "
                    + ("PROJECT_DATABASE_URL." if alias == PROJECT_ALIAS else "DATABASE_URL.")
                )
            databases[alias] = database_from_url(env[key], key)
    return databases


def redacted_url(url: str) -> str:
    """Return `url` with its password replaced by `***`, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
