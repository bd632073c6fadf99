"""Real `manage.py` runs for the tests: the URL of a test database, and the command."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.db import connections

ROOT = Path(__file__).resolve().parents[1]


def database_url(alias) -> str:
    """The URL of a test alias, for a subprocess's DATABASE_URL or DATABASE_URL_<NAME>."""
    config = connections.settings[alias]
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    user = quote(config.get("USER") or "")
    password = f":{quote(config['PASSWORD'])}" if config.get("PASSWORD") else ""
    host = config.get("HOST") or "localhost"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{config['NAME']}"


def run_manage(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run `python manage.py ARGS` with the test session's environment plus `env`."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
