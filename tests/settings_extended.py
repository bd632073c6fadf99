"""The test settings plus tests/extramodels, a 17th and an 18th domain model: only the
`manage.py` subprocesses of tests/e2e/datatransfer/test_extra_models.py use them, so the rest
of the suite sees the 16 tables of the platform."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.extramodels"]
DATATRANSFER_APPS = ("core", "extramodels")
