"""Acceptance: the runtime scans a local site through the real app (gunicorn, PostgreSQL).

The site is the demo site with its planted problems, served by the test on 127.0.0.1.
The scanner claims the run over HTTP, crawls, uploads snapshots and posts the result
exactly as a third-party runtime would. Every planted problem is found with its
severity and evidence, the clean pages have no findings, a second scan shows the
findings as recurring, and the problem fixed in between as resolved. Only loopback
addresses are contacted.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.conftest import SCANNER_SECRET
from tests.scanner.conftest import make_settings
from webriskops.extensions import db
from webriskops.models import Issue, IssueOccurrence, Project, ScanPage, ScanRun
from webriskops.scanner.demo_site import CLEAN_PAGES, PLANTED, PLANTED_SECRET
from webriskops.scanner.runtime import Runtime
from webriskops.scanner_client import ACCEPTED
from webriskops.scans.services import create_scan_run

pytestmark = pytest.mark.slow

# What the evidence of each planted problem must quote.
EVIDENCE = {
    "password-form": '<form method="post" action="/login">',
    "session-cookie-httponly": "Set-Cookie: sessionid=[REDACTED:cookie]; Path=/",
    "session-cookie-samesite": "Set-Cookie: sessionid=[REDACTED:cookie]; Path=/",
    "csp": "no Content-Security-Policy header",
    "nosniff": "X-Content-Type-Options: (absent)",
    "referrer-policy": "Referrer-Policy: (absent)",
    "frame-protection": "no X-Frame-Options, no frame-ancestors",
    "powered-by": "x-powered-by: PHP/7.4.3",
    "image-alt": '<img src="/banner.png">',
    "lang": "<html> without lang",
    "slow": "/shop -> 200 in ",
    "title": "<title> missing or empty",
    "secret": 'var stripeKey = "[REDACTED:stripe_secret_key]"',
    "broken-link": "/blog/old-post -> 404",
    "server-error": "/broken -> 500",
    "directory-listing": "title: Index of /files/",
    "env-file": "DB_PASSWORD=[REDACTED:password]",
    "git-head": "ref: refs/heads/main",
}


def fresh(run_id: int) -> ScanRun:
    db.session.expire_all()
    return db.session.get(ScanRun, run_id)


def wait_for_report(run_id: int, timeout: float = 30.0) -> ScanRun:
    """The run once its after-commit jobs have made the report ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = fresh(run_id)
        if run.report_status == "ready":
            return run
        time.sleep(0.1)
    raise AssertionError(f"report of run {run_id} is {fresh(run_id).report_status}")


def issues_by_page(run_id: int) -> dict[str, dict[str, Issue]]:
    """page URL -> issue type -> issue, from the stored occurrences."""
    rows = db.session.execute(
        select(ScanPage.url, Issue)
        .join(IssueOccurrence, IssueOccurrence.scan_page_id == ScanPage.id)
        .join(Issue, Issue.id == IssueOccurrence.issue_id)
        .where(Issue.scan_run_id == run_id)
    )
    found: dict[str, dict[str, Issue]] = {}
    for url, issue in rows:
        found.setdefault(url, {})[issue.type] = issue
    return found


def test_scan_finds_every_planted_problem_and_follows_it_across_scans(
    app, api_server, make_org, demo, loopback_only
):
    site, base = demo
    org = make_org(credits=5)
    project = Project(organization_id=org.id, name="Demo shop", base_url=base)
    db.session.add(project)
    db.session.commit()
    first = create_scan_run(project)
    artifacts_dir = api_server.artifacts
    settings = make_settings(
        api_url=api_server.url,
        secret=SCANNER_SECRET,
        storage={"ARTIFACTS_DIR": str(artifacts_dir)},
    )

    runtime = Runtime(settings)
    assert runtime.work(once=True) == ACCEPTED
    assert runtime.outcomes == [(first.id, "completed")]

    run = wait_for_report(first.id)
    assert (run.status, run.credit_state, run.attempt) == ("completed", "consumed", 1)
    found = issues_by_page(run.id)
    for problem, (type_, severity, path) in PLANTED.items():
        issue = found.get(base + path.lstrip("/"), {}).get(type_)
        assert issue is not None, f"{problem}: no {type_} on {path}"
        assert issue.severity == severity, problem
        assert EVIDENCE[problem] in issue.evidence, (problem, issue.evidence)
        assert issue.suggested_remediation and issue.reproduction_steps, problem
    issues = db.session.scalars(select(Issue).where(Issue.scan_run_id == run.id)).all()
    assert len(issues) == len(PLANTED)  # nothing found that was not planted
    for path in CLEAN_PAGES:
        assert base + path.lstrip("/") not in found, f"{path} should be clean"
    assert set(found[base]) == {"exposed-env-file", "exposed-git-repository"}
    assert all(PLANTED_SECRET not in issue.evidence for issue in issues)

    pages = {page.url: page for page in run.pages}
    assert set(pages) >= {base + path.lstrip("/") for _, _, path in PLANTED.values()}
    assert pages[base].page_type == "home"
    assert pages[base + "blog/old-post"].status_code == 404
    snapshot = artifacts_dir / pages[base + "blog"].html_snapshot_path
    assert b"<h1>Blog</h1>" in snapshot.read_bytes()
    assert PLANTED_SECRET.encode() not in snapshot.read_bytes()  # redacted by the app's job
    # No Chromium in this run: the screenshot key is the documented placeholder, unwritten.
    assert pages[base].screenshot_path.endswith("/screenshot-unavailable.png")
    assert not (artifacts_dir / pages[base].screenshot_path).exists()
    assert not any(path.startswith("/private/") for path in site.requests)  # robots.txt
    assert "127.0.0.1" in loopback_only  # the guard saw the scanner's connections

    # Fix one problem; the next scan shows it resolved and every other one recurring.
    site.fixed.add("env-file")
    second = create_scan_run(project)
    runtime = Runtime(settings)
    assert runtime.work(once=True) == ACCEPTED
    assert runtime.outcomes == [(second.id, "completed")]

    summary = wait_for_report(second.id).report_summary
    env = next(issue for issue in issues if issue.type == "exposed-env-file")
    assert [resolved["fingerprint"] for resolved in summary["resolved"]] == [env.fingerprint]
    assert summary["new"] == []
    assert set(summary["recurring"]) == {issue.fingerprint for issue in issues} - {env.fingerprint}
    assert "exposed-env-file" not in issues_by_page(second.id).get(base, {})
