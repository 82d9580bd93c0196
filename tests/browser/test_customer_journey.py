"""The customer journey in real headless Chromium against a real gunicorn process.

Log in, start a scan, let a test scanner claim it (the page shows it running, with its
attempt and lease), post the scanner's result to the same server, watch it appear on
the scan detail page, open the report, and save screenshots of the pages (and of the
report's print layout) under ``build/screenshots/`` for people to look at.
Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/ensure-chromium.sh``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT, SCANNER_SECRET
from webriskops import scanner_client
from webriskops.demo import DEMO_EMAIL, DEMO_PASSWORD, _issue, create_demo, png

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "build" / "screenshots"
WIDTH = 1280


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver, with a fresh profile and no network extras."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is missing: run scripts/ensure-chromium.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def save_full_page(driver: WebDriver, name: str) -> Path:
    """A PNG of the whole page (not only the viewport)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    height = int(metrics["cssContentSize"]["height"])
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        },
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def wait_for(driver: WebDriver, css: str):
    """The element matching ``css`` once it is on the page."""
    return WebDriverWait(driver, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def wait_until(driver: WebDriver, condition) -> None:
    """Wait until ``condition(driver)`` holds on the page as it is now.

    A scan run's page refreshes itself (``<meta http-equiv="refresh">``) until the run is
    finished, so an element found before a refresh is stale by the time its text is
    read: such a read is retried, like one that finds no element yet.
    """
    WebDriverWait(
        driver, 20, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(condition)


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def scanner_result(run_id: int, artifacts: Path) -> dict:
    """The third scan of the demo shop: three findings recur, two are new, three resolved."""
    pages = []
    new = [
        {
            **_issue("hsts"),
            "type": "missing-csp",
            "fingerprint": "demo:missing-csp:0001",
            "title": "Content-Security-Policy header missing",
            "description": "No Content-Security-Policy header limits where scripts may load from.",
            "businessImpact": "An injected script can run with the full rights of the page.",
            "suggestedRemediation": "Send a Content-Security-Policy with script-src 'self'.",
            "evidence": "(no content-security-policy header)",
        },
        {
            **_issue("mixed"),
            "type": "vulnerable-library",
            "fingerprint": "demo:vulnerable-library:0001",
            "title": "jQuery 1.12.4 with known vulnerabilities",
            "description": "The page loads jQuery 1.12.4, affected by CVE-2020-11022.",
            "businessImpact": "Known cross-site scripting flaws can be used against visitors.",
            "suggestedRemediation": "Upgrade jQuery to 3.7 or later.",
            "evidence": '<script src="/static/js/jquery-1.12.4.min.js"></script>',
        },
    ]
    issues_per_page = [[_issue("hsts"), _issue("mixed"), new[0]], [_issue("alt"), new[1]]]
    for index, (path, colour) in enumerate((("", (37, 99, 235)), ("checkout", (5, 150, 105)))):
        prefix = f"scan-runs/{run_id}/page-{index}"
        (artifacts / prefix).mkdir(parents=True, exist_ok=True)
        (artifacts / prefix / "screenshot.png").write_bytes(png(480, 300, colour))
        (artifacts / prefix / "snapshot.html").write_bytes(b"<html><body>shop</body></html>")
        url = f"https://shop.example.com/{path}"
        pages.append(
            {
                "page": {
                    "url": url,
                    "normalizedUrl": url,
                    "statusCode": 200,
                    "pageType": "checkout" if path else "home",
                    "responseHeaders": {"content-type": "text/html"},
                    "title": f"Demo shop – {path or 'home'}",
                    "loadTimeMs": 900 + 600 * index,
                },
                "artifacts": {
                    "screenshotPath": f"{prefix}/screenshot.png",
                    "htmlSnapshotPath": f"{prefix}/snapshot.html",
                },
                "issues": issues_per_page[index],
            }
        )
    return {"scanRunId": run_id, "status": "completed", "pages": pages}


def test_login_scan_result_and_report(app, pg_url, artifacts_dir, serve, browser):
    base = serve(
        {
            "DATABASE_URL": pg_url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
            "SECRET_KEY": "browser-test-secret-key",
            "REDIS_URL": "",
        }
    )

    demo = create_demo(base)  # its links point at this server

    # A page without a session leads to the login form, and back after logging in.
    browser.get(demo["report"])
    wait_for(browser, "input[name=email]").send_keys(DEMO_EMAIL)
    browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    save_full_page(browser, "login")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 20).until(expected_conditions.url_to_be(demo["report"]))

    # Start a scan from the project page.
    browser.get(base + "/projects")
    browser.find_element(By.LINK_TEXT, "Demo shop").click()
    credits_before = int(wait_for(browser, "#credits").text)
    browser.find_element(By.ID, "start-scan").click()
    wait_for(browser, "#run-waiting")
    run_id = int(re.search(r"/scan-runs/(\d+)$", browser.current_url).group(1))
    assert f"Scan #{run_id} is queued" in browser.page_source
    assert browser.find_element(By.CSS_SELECTOR, "h1 .badge").text == "Queued"

    # A test scanner claims it; the page, refreshing itself, shows it running.
    [claimed] = scanner_client.claim_runs(base, SCANNER_SECRET, max=1, lease_seconds=120)
    assert (claimed["scanRunId"], claimed["attempt"]) == (run_id, 1)
    wait_until(
        browser,
        lambda driver: (
            text_of(driver, "h1 .badge") == "Running"
            and "lease held" in text_of(driver, "#lease-state")
            and text_of(driver, "#run-attempt") == "1"
            and driver.find_element(By.ID, "cancel-scan").is_displayed()
        ),
    )
    scanner_client.heartbeat(base, SCANNER_SECRET, run_id)
    save_full_page(browser, "scan-running")

    # The scanner posts its result to the same server, with its idempotency key.
    outcome = scanner_client.post_results(
        base,
        json.dumps(scanner_result(run_id, artifacts_dir)).encode(),
        SCANNER_SECRET,
        idempotency_key=scanner_client.idempotency_key_for(claimed),
    )
    assert outcome.exit_code == scanner_client.ACCEPTED, outcome.body

    wait_until(browser, lambda driver: text_of(driver, "h1 .badge") == "Completed")
    assert not browser.find_elements(By.ID, "cancel-scan")
    assert wait_for(browser, "#run-duration").text.endswith(" s")
    assert wait_for(browser, "#pages-scanned").text == "2"
    assert browser.find_element(By.ID, "issues-count").text == "5"
    assert "jQuery 1.12.4 with known vulnerabilities" in browser.page_source
    images = browser.find_elements(By.CSS_SELECTOR, "#pages img")
    assert len(images) == 2
    assert all(
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        == 480
        for img in images
    )
    save_full_page(browser, "scan-detail")

    browser.find_element(By.ID, "open-report").click()
    wait_for(browser, "#findings")
    assert browser.find_element(By.ID, "count-new").text == "2"
    assert browser.find_element(By.ID, "count-recurring").text == "3"
    assert browser.find_element(By.ID, "count-resolved").text == "3"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 2
    assert "Session cookie without Secure flag" in browser.find_element(By.ID, "resolved").text
    report = save_full_page(browser, "report")
    assert report.stat().st_size > 10_000

    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, ".topbar").is_displayed()
    save_full_page(browser, "report-print")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # The credit is consumed, and no page broke a rule of its security policy.
    browser.get(base + f"/projects/{demo['projectId']}")
    assert int(wait_for(browser, "#credits").text) == credits_before - 1
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == []
