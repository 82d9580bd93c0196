"""The reference scanner in the customer journey, in real headless Chromium.

Log in, start a scan of a local test site (the demo site, on 127.0.0.1), and watch
the run page: the runtime claims it (``running``), scans with screenshots and posts;
the page then shows the pages with their screenshots, and the report becomes ready.
"""

from __future__ import annotations

import threading
import time

import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_customer_journey import (  # noqa: F401 - fixtures
    browser,
    save_full_page,
    wait_for,
)
from tests.conftest import SCANNER_SECRET
from tests.scanner.conftest import demo, make_settings  # noqa: F401 - a fixture
from webriskops.extensions import db
from webriskops.models import Project
from webriskops.scanner.runtime import Runtime

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
IMAGE_WIDTH = "return arguments[0].complete && arguments[0].naturalWidth"


def badge(driver) -> str:
    """The run's status as the page shows it."""
    return driver.find_element(By.CSS_SELECTOR, "h1 .badge").text.lower()


def test_start_a_scan_and_watch_the_scanner_report(
    app,
    pg_url,
    artifacts_dir,
    serve,
    browser,  # noqa: F811 - the fixture imported above
    demo,  # noqa: F811 - the fixture imported above
    make_org,
    make_user,
):
    site, base = demo
    site.slow_seconds = 0.5
    org = make_org(credits=3)
    make_user(org, email="owner@example.com", password=PASSWORD)
    project = Project(organization_id=org.id, name="Local demo site", base_url=base)
    db.session.add(project)
    db.session.commit()
    url = serve(
        {
            "DATABASE_URL": pg_url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
            "SECRET_KEY": "browser-test-secret-key",
            "REDIS_URL": "",
        }
    )
    settings = make_settings(
        api_url=url,
        secret=SCANNER_SECRET,
        screenshots=True,
        max_screenshots=2,
        storage={"ARTIFACTS_DIR": str(artifacts_dir)},
    )
    runtime = Runtime(settings)
    scanner = threading.Thread(target=runtime.work, daemon=True)
    scanner.start()
    try:
        browser.get(url + "/login")
        wait_for(browser, "input[name=email]").send_keys("owner@example.com")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(browser, "nav, .topbar")
        browser.get(url + f"/projects/{project.id}")
        wait_for(browser, "#start-scan").click()
        wait_for(browser, "#run-waiting")

        seen: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = badge(browser)
            if not seen or seen[-1] != status:
                seen.append(status)
                if status == "running":
                    save_full_page(browser, "scanner-running")
            if status in ("completed", "failed"):
                break
            time.sleep(0.3)
            browser.refresh()
        assert "running" in seen, seen
        assert seen[-1] == "completed", seen

        images = browser.find_elements(By.CSS_SELECTOR, "#pages img")
        loaded: list = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for img in images:  # lazy images load once scrolled into view
                browser.execute_script("arguments[0].scrollIntoView()", img)
            loaded = [img for img in images if browser.execute_script(IMAGE_WIDTH, img) == 1280]
            if len(loaded) >= 2:
                break
            time.sleep(0.3)
        placeholders = browser.find_elements(By.CSS_SELECTOR, "#pages .shot-missing")
        # The first two pages have screenshots; the others show the placeholder, not a
        # broken image.
        assert len(loaded) == len(images) == 2
        assert len(placeholders) >= 7
        assert "Password form served and submitted over HTTP" in browser.page_source
        save_full_page(browser, "scanner-scan-detail")

        browser.find_element(By.ID, "open-report").click()
        deadline = time.monotonic() + 30
        while not browser.find_elements(By.ID, "findings") and time.monotonic() < deadline:
            time.sleep(0.3)
            browser.refresh()
        assert browser.find_elements(By.ID, "findings")
        save_full_page(browser, "scanner-report")
    finally:
        runtime.stop.set()
        scanner.join(30)
