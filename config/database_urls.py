"""Database settings from URLs: `DATABASE_URL` and one alias per `DATABASE_URL_<NAME>`.

Accepts the existing application's Prisma URLs as they are: `?schema=X` becomes the
connection's search_path and Prisma-only parameters never reach psycopg.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ

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
URL_PREFIX = "DATABASE_URL_"


def database_from_url(url: str) -> dict:
    """Return a Django `DATABASES` entry for `url`.

    Raises `ImproperlyConfigured` (from django-environ) for a scheme it does not know.
    """
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        return environ.Env.db_url_config(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
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


def databases_from_env(env: dict, default_sqlite_path) -> dict:
    """Return `DATABASES` from `DATABASE_URL` (SQLite at `default_sqlite_path` when unset)
    and every `DATABASE_URL_<NAME>` as the alias `<name>`."""
    url = env.get("DATABASE_URL")
    if url:
        databases = {"default": database_from_url(url)}
    else:
        databases = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite_path)}
        }
    for key in sorted(env):
        if key.startswith(URL_PREFIX) and len(key) > len(URL_PREFIX) and env[key]:
            databases[key[len(URL_PREFIX) :].lower()] = database_from_url(env[key])
    return databases


def redacted_url(url: str) -> str:
    """Return `url` with its password replaced by `***`, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
