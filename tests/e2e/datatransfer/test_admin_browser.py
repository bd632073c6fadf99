"""The admin export in a real browser: Selenium drives Debian's headless Chromium, in a
window 1,400 px wide (a laptop's screen).

The export flow runs against the project as deployed: `manage.py runserver` with DEBUG off
(its CSS served by WhiteNoise) and `manage.py db_worker`, each in a process of its own, on
their own project and platform databases (the `site` fixture). A superuser queues a
whole-database export that a misconfigured worker fails; then ticks two organizations, runs
"Export selected organizations with their data", confirms, and lands on the history where
the export is queued; the worker runs it, the history (refreshing itself) shows it done with
its file in sight, the file Chromium downloads loads alone into an empty database, the
export's page shows its rows per table, and its file is deleted from there. A staff member
without `datatransfer.export_domain` does not see the action (pytest-django's live server).

`SCREENSHOTS_DIR=docs` saves the README's screenshots (docs/admin-export-*.png) on the way.

Chromium and its driver come from Debian's packages `chromium` and `chromium-driver`; `.ci/run`
installs them. Without them the module is skipped, except under CI=true, where it fails.
"""

import io
import os
import re
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse

from core.models import Organization
from tests.snapshots import database_snapshot
from tests.subprocesses import free_port, run_manage, running_manage

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # The admin's labels follow Accept-Language (LocaleMiddleware): ask for English.
    "--lang=en-US",
)
ACTION_LABEL = "Export selected organizations with their data"
WAIT = 30  # seconds, for a page or a download
SUPERUSER = ("boss", "browser-pass-1")
WIDTH, HEIGHT = 1400, 900

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the dev group is not installed
    webdriver = None


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e . --group dev)"
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if absent:
        return (
            f"{' and '.join(absent)} missing: install Debian's packages with "
            "`apt-get install -y --no-install-recommends chromium chromium-driver`"
        )
    return None


MISSING = _missing()
if MISSING and os.environ.get("CI") != "true":
    pytest.skip(f"browser test skipped: {MISSING}", allow_module_level=True)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture(autouse=True)
def browser_available():
    """Under CI=true a missing browser fails each test (a collection error would stop the
    whole run), so CI can never pass by skipping the browser test."""
    if MISSING:
        pytest.fail(f"the browser test must run under CI=true: {MISSING}", pytrace=False)


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def downloads(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
            "intl.accept_languages": "en-US,en",
        },
    )
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def seeded():
    call_command("seeddemo", "--scale", "1", stdout=io.StringIO())
    organizations = list(Organization.objects.order_by("slug")[:2])
    assert len(organizations) == 2
    return organizations


def wait_for(driver, css):
    return WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def log_in(driver, url, username, password):
    driver.get(url + reverse("admin:login"))
    wait_for(driver, "#id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_for(driver, "#user-tools")  # the admin's header, only once logged in


def open_organizations(driver, url):
    driver.get(url + reverse("admin:core_organization_changelist"))
    wait_for(driver, "#changelist-form")


def downloaded_file(folder: Path) -> Path:
    """The one finished download in `folder` (Chromium writes `*.crdownload` until done)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        files = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if files and not any(p.suffix == ".crdownload" for p in files):
            assert len(files) == 1, files
            return files[0]
        time.sleep(0.2)
    raise AssertionError(f"no finished download in {folder}: {list(folder.iterdir())}")


@pytest.fixture
def server(site):
    """`manage.py runserver` on the `site`, DEBUG off, with a superuser; yields its URL."""
    username, password = SUPERUSER
    created = run_manage(
        "createsuperuser",
        "--noinput",
        "--username",
        username,
        "--email",
        "boss@example.com",
        env={**site, "DJANGO_SUPERUSER_PASSWORD": password},
    )
    assert created.returncode == 0, created.stderr
    url = f"http://127.0.0.1:{free_port()}"
    with running_manage(
        "runserver",
        url.removeprefix("http://"),
        "--noreload",
        env={**site, "DEBUG": "false"},
        ready_url=url + reverse("admin:login"),
    ):
        yield url


def worker(site):
    """`manage.py db_worker`, polling often, for the length of a `with` block."""
    return running_manage(
        "db_worker", "--interval", "0.3", "--no-startup-delay", "--no-reload", env=site
    )


def in_sight(driver, element) -> bool:
    """Whether `element` is whole within the window's width and its scrolling container's
    (the admin's result table scrolls sideways when too wide), with no scrolling."""
    return driver.execute_script(
        """const box = arguments[0].getBoundingClientRect();
        const frame = arguments[0].closest(".results").getBoundingClientRect();
        return box.width > 0 && box.left >= Math.max(0, frame.left)
            && box.right <= Math.min(document.documentElement.clientWidth, frame.right);""",
        element,
    )


def screenshot(driver, name: str) -> None:
    """Save the whole page as `name` in SCREENSHOTS_DIR, when it is set (the README's images:
    SCREENSHOTS_DIR=docs)."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if not folder:
        return
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(max(height, 400), 2000))
    try:
        driver.save_screenshot(str(Path(folder) / name))
    finally:
        driver.set_window_size(WIDTH, HEIGHT)


def history_row(driver, number=1):
    """The history's `number`th row (newest first)."""
    return wait_for(driver, f"#result_list tbody tr:nth-child({number})")


def wait_for_state(driver, state, number=1):
    """Wait until the `number`th row of the history shows `state`, the page refreshing
    itself; return the row."""
    # The page reloads itself while a run is queued or running: a row found just before a
    # reload is stale, and is looked for again.
    WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: history_row(d, number).find_elements(By.CSS_SELECTOR, f".export-{state}")
    )
    return history_row(driver, number)


def test_a_superuser_queues_two_organizations_and_downloads_them_once_done(
    server, site, browser, downloads, make_database
):
    browser.set_window_size(WIDTH, HEIGHT)
    assert browser.execute_script("return window.innerWidth") == WIDTH
    log_in(browser, server, *SUPERUSER)
    # First the whole database, from the history's button, which a worker given a wrong
    # DATABASE_URL fails: the history shows the error.
    browser.get(server + reverse("admin:datatransfer_exportrecord_changelist"))
    wait_for(browser, "a.export-whole-database").click()
    wait_for(browser, "body.export-confirmation")
    browser.find_element(By.CSS_SELECTOR, 'form input[type="submit"]').click()
    wait_for(browser, "body.model-exportrecord.change-list")
    assert history_row(browser).find_elements(By.CSS_SELECTOR, ".export-queued")
    unreachable = {**site, "DATABASE_URL": "postgres://app@127.0.0.1:9/platform_prod"}
    result = run_manage("db_worker", "--batch", "--no-startup-delay", env=unreachable)
    assert result.returncode == 0, result.stderr
    state = wait_for_state(browser, "failed").find_element(By.CSS_SELECTOR, ".export-failed")
    assert "Cannot connect to database 'platform'" in state.get_attribute("title")
    assert "Cannot connect to database 'platform'" in state.text

    open_organizations(browser, server)
    boxes = browser.find_elements(By.CSS_SELECTOR, "input.action-select")[:2]
    ticked = {box.get_attribute("value") for box in boxes}
    for box in boxes:
        box.click()
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text(ACTION_LABEL)
    browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()

    # The confirmation page names both organizations and warns about secrets; keep them in.
    wait_for(browser, "body.export-confirmation")
    listed = browser.find_element(By.CSS_SELECTOR, "ul.export-organizations").text
    assert len(listed.splitlines()) == 2
    assert "password hashes" in browser.page_source
    assert not browser.find_element(By.ID, "id_exclude_secrets").is_selected()
    screenshot(browser, "admin-export-confirmation.png")
    browser.find_element(By.CSS_SELECTOR, 'form input[type="submit"]').click()

    # The history: queued, until a worker runs; then done, with its file, the page refreshing
    # itself meanwhile.
    wait_for(browser, "body.model-exportrecord.change-list")
    assert "The export is queued" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert history_row(browser).find_elements(By.CSS_SELECTOR, ".export-queued")
    assert history_row(browser, 2).find_elements(By.CSS_SELECTOR, ".export-failed")
    screenshot(browser, "admin-export-history-queued.png")
    with worker(site):
        row = wait_for_state(browser, "succeeded")
    browser.refresh()  # without the message of the queued export
    row = wait_for_state(browser, "succeeded")
    assert not row.find_elements(By.CSS_SELECTOR, ".export-running")
    link = row.find_element(By.CSS_SELECTOR, "a.export-download")
    assert link.is_displayed() and in_sight(browser, link)
    assert browser.execute_script(
        'const table = document.querySelector(".results");'
        "return table.scrollWidth <= table.clientWidth;"
    ), "the history's table scrolls sideways"
    assert re.fullmatch(
        r"\d+\.\d s", row.find_element(By.CSS_SELECTOR, ".field-duration_column").text
    )
    screenshot(browser, "admin-export-history.png")
    link.click()

    path = downloaded_file(downloads)
    assert path.name.startswith("export-") and path.suffix == ".json"
    target = make_database("sqlite")
    # loaddomain raises CommandError when any row fails.
    call_command("loaddomain", "--no-input", str(path), "--database", target, stdout=io.StringIO())
    loaded = database_snapshot(target)
    assert ticked <= set(loaded["core.Organization"])
    assert loaded["core.User"], "the organizations' users are in the file"

    # The export's page: one line per fact, the rows per table as a table, one File line.
    row.find_element(By.CSS_SELECTOR, "th.field-started a").click()
    wait_for(browser, "body.change-form .export-table-counts")
    labels = [label.text for label in browser.find_elements(By.CSS_SELECTOR, ".form-row label")]
    assert labels.count("File:") == 1
    counts = browser.find_elements(By.CSS_SELECTOR, ".export-table-counts tbody tr")
    assert len(counts) >= 10
    screenshot(browser, "admin-export-detail.png")

    # Its file deleted from there, after a confirmation; the history keeps the export.
    browser.find_element(By.CSS_SELECTOR, "a.delete-export-file").click()
    wait_for(browser, "body.delete-export-files")
    assert path.name in browser.find_element(By.CSS_SELECTOR, "ul.export-files").text
    browser.find_element(By.CSS_SELECTOR, 'form input[type="submit"]').click()
    wait_for(browser, "body.change-form .export-deleted")
    assert "deleted on" in browser.find_element(By.CSS_SELECTOR, ".export-deleted").text
    assert not any(Path(site["EXPORTS_DIR"]).glob("export-*.json"))


def test_staff_without_the_permission_does_not_see_the_action(live_server, browser, seeded):
    user = User.objects.create_user("agent", password="browser-pass-2", is_staff=True)
    for codename in ("view_organization", "delete_organization"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    log_in(browser, live_server.url, "agent", "browser-pass-2")
    open_organizations(browser, live_server.url)

    options = Select(browser.find_element(By.NAME, "action")).options
    values = [option.get_attribute("value") for option in options]
    assert "delete_selected" in values  # the dropdown is there, with what the user may do
    assert "export_domain" not in values
    assert ACTION_LABEL not in [option.text for option in options]
