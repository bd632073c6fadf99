"""The admin import in a real browser (Chromium, 1,400 px wide), against the project as
deployed: `manage.py runserver` with DEBUG off and `manage.py db_worker`, each in a process of
its own (the fixtures of test_admin_browser.py). A superuser uploads an export of the
platform's database, reads its dry run's report naming the database it would go into,
confirms, and the worker imports it there.

`SCREENSHOTS_DIR=docs` saves the README's screenshots (docs/admin-import-*.png) on the way.
"""

import pytest
from django.urls import reverse

from datatransfer.databases import describe
from tests.e2e.datatransfer.test_admin_browser import (  # noqa: F401 (fixtures)
    SUPERUSER,
    WIDTH,
    By,
    browser,
    browser_available,
    downloads,
    exports_dir,
    log_in,
    screenshot,
    server,
    wait_for,
    worker,
)
from tests.snapshots import database_snapshot
from tests.subprocesses import database_url, run_manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def target(site, make_database):
    """An empty platform database, `DATABASE_URL_TARGET` of the server and the worker
    (asked for before `server`, which then sees it); yields its alias in this process."""
    platform = site["DATABASE_URL"]
    alias = make_database("postgresql" if platform.startswith("postgres") else "sqlite")
    site["DATABASE_URL_TARGET"] = database_url(alias)
    return alias


@pytest.fixture
def export_file(site, tmp_path):
    """The site's platform database exported by dumpdomain."""
    path = tmp_path / "platform-export.json"
    result = run_manage("dumpdomain", str(path), env=site)
    assert result.returncode == 0, result.stderr
    return path


def test_upload_preview_confirm_done(target, server, site, browser, export_file):  # noqa: F811
    browser.set_window_size(WIDTH, 900)
    log_in(browser, server, *SUPERUSER)
    browser.get(server + reverse("admin:datatransfer_importrecord_changelist"))
    wait_for(browser, "a.import-upload").click()

    wait_for(browser, "body.import-upload-page")
    browser.find_element(By.ID, "id_file").send_keys(str(export_file))
    database = browser.find_element(By.ID, "id_database")
    option = database.find_element(By.CSS_SELECTOR, 'option[value="target"]')
    where = describe(target)  # the same file or database as the server's `target`
    assert option.text == f"target ({where})"
    option.click()
    browser.find_element(By.CSS_SELECTOR, 'form input[type="submit"]').click()

    # The dry run's page: queued, then (the worker runs it, the page refreshing itself) its
    # report, naming the database; nothing written yet.
    wait_for(browser, "body.change-form .import-waiting")
    line = browser.find_element(By.CSS_SELECTOR, ".import-database-line").text
    assert line == f"Dry run into the database target ({where})"
    with worker(site):
        wait_for(browser, ".import-report .import-table-counts")
        assert "What the import would do (dry run" in browser.page_source
        tables = browser.find_elements(By.CSS_SELECTOR, ".import-table-counts tbody tr")
        assert len(tables) == 16
        assert all(not rows for rows in database_snapshot(target).values())
        screenshot(browser, "admin-import-preview.png")

        confirm = browser.find_element(By.CSS_SELECTOR, "form.import-confirm")
        assert f"target ({where})" in confirm.text
        confirm.find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()

        # The import's page: queued, then done, with what it did.
        wait_for(browser, "body.change-form .messagelist")
        assert "is queued" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
        line = wait_for(browser, ".import-database-line").text
        assert line == f"Import into the database target ({where})"
        wait_for(browser, ".import-report .import-table-counts")
    assert "What the import did" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, ".field-state .export-succeeded")
    screenshot(browser, "admin-import-done.png")
    loaded = database_snapshot(target)
    assert loaded["core.Organization"] and loaded["core.User"]

    browser.get(server + reverse("admin:datatransfer_importrecord_changelist"))
    states = browser.find_elements(By.CSS_SELECTOR, "#result_list .export-succeeded")
    assert len(states) == 2  # the dry run and the import, both recorded
    screenshot(browser, "admin-import-history.png")
