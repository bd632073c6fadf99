"""The admin's revert of an import in a real browser (Chromium), against the project as
deployed (`runserver` with DEBUG off, `db_worker`: the fixtures of test_admin_browser.py):
a superuser imports a file, then on the import's page asks for its revert, reads the
revert's dry run (what it would delete, per table), confirms it, and the database is back
as it was before the import."""

import pytest
from django.urls import reverse

from tests.e2e.datatransfer.test_admin_browser import (  # noqa: F401 (fixtures)
    SUPERUSER,
    WAIT,
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
from tests.e2e.datatransfer.test_admin_import_browser import export_file, target  # noqa: F401
from tests.snapshots import database_snapshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def submit(page, form: str) -> None:
    """Submit `form`, then wait for the page of the record it queued (another address):
    the page it leaves may show a report too."""
    from selenium.webdriver.support.ui import WebDriverWait  # as test_admin_browser.py

    left = page.current_url
    wait_for(page, form).find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()
    WebDriverWait(page, WAIT).until(lambda d: d.current_url != left)


def test_an_import_is_reverted_from_its_page(target, server, site, browser, export_file):  # noqa: F811
    before = database_snapshot(target)
    browser.set_window_size(WIDTH, 900)
    log_in(browser, server, *SUPERUSER)
    browser.get(server + reverse("admin:datatransfer_importrecord_upload"))
    browser.find_element(By.ID, "id_file").send_keys(str(export_file))
    browser.find_element(By.CSS_SELECTOR, '#id_database option[value="target"]').click()
    submit(browser, "body.import-upload-page #content form")
    with worker(site):
        submit(browser, "form.import-confirm")
        wait_for(browser, ".import-report .import-table-counts")
        assert "What the import did" in browser.page_source
        imported = database_snapshot(target)
        assert imported["core.Organization"] and imported != before

        # The import's page offers its revert: a dry run first, which writes nothing.
        submit(browser, "form.import-revert")
        wait_for(browser, ".import-report .import-table-counts")
        assert "What the revert would do (dry run" in browser.page_source
        line = browser.find_element(By.CSS_SELECTOR, ".import-database-line").text
        assert line.startswith("Revert in the database target")
        rows = {
            row.find_elements(By.TAG_NAME, "td")[0].text: row.text
            for row in browser.find_elements(By.CSS_SELECTOR, ".import-table-counts tbody tr")
        }
        organizations = len(imported["core.Organization"])
        assert rows["organizations"].split()[1:] == [str(organizations), "0"]
        assert database_snapshot(target) == imported
        screenshot(browser, "admin-revert-preview.png")

        submit(browser, "form.import-confirm-revert")
        wait_for(browser, "body.change-form .messagelist")
        assert "The revert is queued" in browser.page_source
        wait_for(browser, ".import-report .import-table-counts")
    assert "What the revert did" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, ".field-state .export-succeeded")
    assert database_snapshot(target) == before
