"""`dumpdomain --anonymize` as a real `manage.py` process: refused in one line without its
key (exit 2, no traceback, no file), a masked file with it."""

import json

import pytest

from datatransfer.masks import EMAIL_DOMAIN
from tests.subprocesses import run_manage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_dumpdomain_anonymize_needs_its_key(site, tmp_path):
    path = tmp_path / "masked.json"
    refused = run_manage(
        "dumpdomain", str(path), "--anonymize", env={**site, "DATATRANSFER_ANONYMIZE_KEY": ""}
    )
    assert refused.returncode == 2 and not path.exists()
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "CommandError: An anonymized export needs DATATRANSFER_ANONYMIZE_KEY, which is not set: "
        "nothing was written (--anonymize masks under that key: set it, the same on every run)."
    ]
    done = run_manage(
        "dumpdomain", str(path), "--anonymize", "-v", "0",
        env={**site, "DATATRANSFER_ANONYMIZE_KEY": "a staging key"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    users = json.loads(path.read_text(encoding="utf-8"))["data"]["users"]
    assert users and all(user["email"].endswith("@" + EMAIL_DOMAIN) for user in users)
