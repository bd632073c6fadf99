"""The test suite's settings: the project's, with no `.env` file read, so that the tests
(and the `manage.py` subprocesses they start, which inherit ENV_FILE) only ever touch
their own throw-away databases, whatever `.env` names.

With no DATABASE_URL (the SQLite run), the platform's database is a SQLite file in the
project, named here: the project's settings refuse to guess one (config/unset_database);
pytest-django's test database of that alias is in memory."""

import os

os.environ["ENV_FILE"] = os.devnull

from config.database_urls import PLATFORM_ALIAS, is_unset  # noqa: E402
from config.settings import *  # noqa: E402, F403
from config.settings import BASE_DIR, DATABASES  # noqa: E402

if is_unset(DATABASES[PLATFORM_ALIAS]):
    DATABASES[PLATFORM_ALIAS] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(BASE_DIR / "db.sqlite3"),
    }
