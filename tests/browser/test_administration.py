"""Self-service administration in real headless Chromium against a real gunicorn process.

An owner invites a member; the member accepts, sets a password, creates an API token,
reads the API with it and revokes it (then 401). Every settings page is measured at
1366 px and 390 px (no horizontal scrolling) and saved as a PNG under
``build/screenshots/``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.test_customer_journey import SCREENSHOTS, browser, wait_for  # noqa: F401
from tests.conftest import SCANNER_SECRET
from tests.reports.conftest import PASSWORD

pytestmark = pytest.mark.slow

WIDTHS = (1366, 390)


def at_width(driver: WebDriver, width: int) -> None:
    """Lay the page out as a ``width`` px wide screen (a phone below 500 px)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )


def check_page(driver: WebDriver, name: str) -> None:
    """At each width: no horizontal scrolling, and a full-page PNG saved."""
    for width in WIDTHS:
        at_width(driver, width)
        scroll, inner = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        wide = driver.execute_script(
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > arguments[0] + 1"
            " || e.scrollWidth > e.clientWidth + 1)"
            ".map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth)"
            ".slice(0, 8)",
            width,
        )
        assert inner == width, f"{name} is wider than {width} px: {wide}"
        assert scroll <= inner, f"{name} scrolls sideways at {width} px: {wide}"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path: Path = SCREENSHOTS / f"admin-{name}-{width}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.stat().st_size > 5_000
    at_width(driver, WIDTHS[0])


def log_in(driver: WebDriver, base: str, email: str, password: str) -> None:
    driver.get(base + "/login")
    wait_for(driver, "input[name=email]").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 20).until(expected_conditions.url_to_be(base + "/projects"))


def test_invite_accept_token_read_revoke(
    app,
    pg_url,
    artifacts_dir,
    serve,
    browser,  # noqa: F811 - the fixture imported above
    make_org,
    make_project,
    make_user,
):
    org = make_org("Acme", credits=0)
    project = make_project(org, "Acme shop")
    make_user(org, "owner@acme.test", "owner", PASSWORD)
    base = serve(
        {
            "DATABASE_URL": pg_url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
            "SECRET_KEY": "browser-test-secret-key",
            "REDIS_URL": "",
        }
    )
    api = f"{base}/api/projects/{project.id}/scan-runs"

    # The owner finds Settings in the navigation and invites a member.
    log_in(browser, base, "owner@acme.test", PASSWORD)
    browser.find_element(By.LINK_TEXT, "Settings").click()
    wait_for(browser, "#token-name")
    browser.find_element(By.LINK_TEXT, "Members").click()
    wait_for(browser, "#invite-email").send_keys("new.member@acme.test")
    browser.find_element(By.CSS_SELECTOR, "#invite-role option[value=member]").click()
    browser.find_element(By.XPATH, "//button[text()='Send invitation']").click()
    link = wait_for(browser, "#invitation-link-value").text
    assert link.startswith(base + "/invitations/")
    check_page(browser, "members")

    # The owner's other pages: webhooks (with one endpoint), its deliveries, a new project.
    browser.find_element(By.LINK_TEXT, "Webhooks").click()
    wait_for(browser, "#webhook-url").send_keys("https://hooks.example.com/webriskops")
    browser.find_element(By.XPATH, "//button[text()='Add endpoint']").click()
    assert wait_for(browser, "#new-secret-value").text.startswith("whsec_")
    check_page(browser, "webhooks")
    browser.find_element(By.LINK_TEXT, "Deliveries").click()
    wait_for(browser, ".settings-card")
    check_page(browser, "webhook-deliveries")
    browser.find_element(By.LINK_TEXT, "New project").click()
    wait_for(browser, "#project-name")
    check_page(browser, "new-project")
    # The zero-credit banner's "add credits" leads to a real page.
    browser.get(f"{base}/projects/{project.id}")
    browser.find_element(By.LINK_TEXT, "add credits").click()
    wait_for(browser, "#add-credits")
    check_page(browser, "credits")
    browser.find_element(By.XPATH, "//button[text()='Log out']").click()
    wait_for(browser, "input[name=email]")

    # The invitee opens the link, sets a password and is logged in.
    browser.get(link)
    wait_for(browser, "#password").send_keys("member password 1")
    browser.find_element(By.ID, "confirm").send_keys("member password 1")
    check_page(browser, "invitation")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 20).until(expected_conditions.url_to_be(base + "/projects"))
    assert "Acme shop" in browser.page_source
    # The link worked once.
    assert requests.get(link, timeout=30).status_code == 404

    # The member creates a token and reads the API with it.
    browser.find_element(By.LINK_TEXT, "Settings").click()
    wait_for(browser, "#token-name").send_keys("Laptop")
    browser.find_element(By.XPATH, "//button[text()='Create token']").click()
    token = wait_for(browser, "#new-token-value").text
    assert token.startswith("wro_")
    check_page(browser, "tokens")
    answer = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 0
    browser.get(base + "/settings/tokens")  # last used now shown, and no longer the token
    assert token not in browser.page_source
    assert "Never" not in wait_for(browser, "#tokens .row-facts").text.split("Expires")[0]

    # A member gets 403 on owner pages.
    browser.get(f"{base}/settings/members")
    assert "Owners only" in wait_for(browser, "h1").text

    # Revoke it: the API answers 401 at once.
    browser.get(base + "/settings/tokens")
    browser.find_element(By.XPATH, "//button[text()='Revoke']").click()
    assert "is revoked" in wait_for(browser, ".flash").text
    answer = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 401
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert [p for p in problems if "403" not in p["message"]] == []
