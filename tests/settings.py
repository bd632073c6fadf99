"""The test suite's settings: the project's, with no `.env` file read, so that the tests
(and the `manage.py` subprocesses they start, which inherit ENV_FILE) only ever touch
their own throw-away databases, whatever `.env` names."""

import os

os.environ["ENV_FILE"] = os.devnull

from config.settings import *  # noqa: E402, F403
