"""The customer pages: projects, starting scans, scan detail, report states, artifacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import payloads
from tests.reports.conftest import put_artifacts
from webriskops.extensions import db
from webriskops.models import Organization, ScanRun

STATIC = Path(__file__).resolve().parents[2] / "webriskops" / "static"


def test_home_redirects_to_projects(web):
    response = web().get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/projects"


def test_projects_list_shows_projects_credits_and_latest_run(tenants, login):
    page = login(tenants.member.email).get("/projects")
    assert page.status_code == 200
    assert "Acme shop" in page.text and "Acme" in page.text
    assert "4 credits available" in page.text  # 5 granted, 1 consumed by the completed run
    assert f"#{tenants.run.id}" in page.text


def test_start_scan_creates_a_run_and_reserves_a_credit(tenants, login):
    client = login(tenants.member.email)
    response = client.post(
        f"/projects/{tenants.project.id}/scan-runs", data={"csrf_token": client.csrf_token()}
    )
    assert response.status_code == 302
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    db.session.expire_all()
    run = db.session.get(ScanRun, run_id)
    assert (run.project_id, run.status, run.credit_state) == (
        tenants.project.id,
        "queued",
        "reserved",
    )
    org = db.session.get(Organization, tenants.org.id)
    assert (org.credits, org.reserved_credits) == (3, 1)
    detail = client.get(response.headers["Location"])
    assert "Waiting for the scanner" in detail.text
    assert '<meta http-equiv="refresh"' in detail.text


def test_start_scan_without_credits_says_so(make_org, make_project, make_user, login):
    org = make_org("Broke", credits=0)
    project = make_project(org)
    make_user(org, "broke@example.com")
    client = login("broke@example.com")
    page = client.get(f"/projects/{project.id}")
    assert "no scan credits left" in page.text
    assert re.search(r'id="start-scan"[^>]*disabled', page.text)
    response = client.post(
        f"/projects/{project.id}/scan-runs", data={"csrf_token": client.csrf_token()}
    )
    assert response.status_code == 402
    assert "no scan credits left, so no scan was started" in response.text
    assert db.session.scalars(select(ScanRun)).all() == []


def test_scan_detail_shows_counters_pages_screenshots_and_occurrences(
    make_project, make_run, make_user, post_result, login
):
    project = make_project()
    make_user(project.organization, "owner@acme.test")
    run = make_run(project)
    shared = payloads.issue(7, severity="high", title="Shared finding")
    payload = payloads.multi(run.id, pages=2, issues_per_page=1)
    for entry in payload["pages"]:
        entry["issues"].append(shared)
    put_artifacts(payload)
    post_result(payload)
    page = login("owner@acme.test").get(f"/scan-runs/{run.id}")
    assert page.status_code == 200
    assert 'id="pages-scanned">2<' in page.text and 'id="issues-count">3<' in page.text
    for entry in payload["pages"]:
        key = entry["artifacts"]["screenshotPath"]
        assert f'src="/scan-runs/{run.id}/artifacts/{key}"' in page.text
        assert entry["page"]["url"] in page.text
    occurrences = re.search(r"Shared finding.*?</ul>", page.text, re.S).group(0)
    assert all(entry["page"]["url"] in occurrences for entry in payload["pages"])
    assert "Evidence, remediation and pages (2)" in page.text


def test_failed_run_shows_its_error(make_project, make_run, make_user, post_result, login):
    project = make_project()
    make_user(project.organization, "owner@acme.test")
    run = make_run(project)
    post_result(
        payloads.failed(
            run.id, message="The page did not load in time.", url="https://example.com/slow"
        )
    )
    client = login("owner@acme.test")
    page = client.get(f"/scan-runs/{run.id}")
    assert "The scan failed" in page.text
    assert "NAVIGATION_TIMEOUT" in page.text and "The page did not load in time." in page.text
    assert "https://example.com/slow" in page.text
    report = client.get(f"/scan-runs/{run.id}/report")
    assert report.status_code == 200
    assert "This scan failed, so there is no report" in report.text


def test_report_page_is_complete_and_self_contained(tenants, login):
    page = login(tenants.member.email).get(f"/scan-runs/{tenants.run.id}/report")
    assert page.status_code == 200
    text = page.text
    assert "Risk score" in text and '<svg class="chart"' in text
    assert "Issues by severity" in text and "Issues by category" in text
    assert text.count('class="issue ') == 4
    for label in ("Evidence", "Seen on"):
        assert f"<dt>{label}</dt>" in text
    # Nothing is loaded from another origin: every src/href is relative to the app.
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', text)
    assert "Content-Security-Policy" in page.headers
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "@media print" in (STATIC / "app.css").read_text()


def test_report_issues_are_paginated(make_project, make_run, make_user, post_result, login):
    project = make_project()
    make_user(project.organization, "owner@acme.test")
    run = make_run(project)
    post_result(payloads.completed(run.id, [payloads.issue(n) for n in range(120)]))
    client = login("owner@acme.test")
    first = client.get(f"/scan-runs/{run.id}/report")
    second = client.get(f"/scan-runs/{run.id}/report?page=2")
    assert first.text.count('class="issue ') == 100 and "1–100 of 120" in first.text
    assert second.text.count('class="issue ') == 20 and "101–120 of 120" in second.text
    detail = client.get(f"/scan-runs/{run.id}?issues_page=3")
    assert detail.text.count('class="issue ') == 20 and "101–120 of 120" in detail.text
    assert client.get(f"/scan-runs/{run.id}/report?page=abc").status_code == 200


@pytest.mark.parametrize(
    ("report_status", "role", "expected"),
    [
        ("pending", "owner", "Preparing the report"),
        ("failed", "owner", 'id="retry-report"'),
        ("failed", "member", "Ask an owner of your organization to retry it"),
    ],
)
def test_report_states(tenants, login, report_status, role, expected):
    run = db.session.get(ScanRun, tenants.run.id)
    run.report_status = report_status
    db.session.commit()
    page = login(getattr(tenants, role).email).get(f"/scan-runs/{tenants.run.id}/report")
    assert page.status_code == 200 and expected in page.text
    assert ('id="retry-report"' in page.text) == (report_status == "failed" and role == "owner")


def test_owner_retries_a_failed_report(tenants, login):
    run = db.session.get(ScanRun, tenants.run.id)
    run.report_status, run.report_summary = "failed", None
    db.session.commit()
    client = login(tenants.owner.email)
    response = client.post(
        f"/scan-runs/{run.id}/report/retry", data={"csrf_token": client.csrf_token()}
    )
    assert response.status_code == 302
    db.session.expire_all()
    run = db.session.get(ScanRun, tenants.run.id)
    assert run.report_status == "ready" and run.report_summary["issuesCount"] == 4
    assert "The report is being generated again." in client.get(response.headers["Location"]).text


def test_member_cannot_retry_a_report(tenants, login):
    run = db.session.get(ScanRun, tenants.run.id)
    run.report_status = "failed"
    db.session.commit()
    client = login(tenants.member.email)
    response = client.post(
        f"/scan-runs/{run.id}/report/retry", data={"csrf_token": client.csrf_token()}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(ScanRun, run.id).report_status == "failed"


def test_screenshot_is_streamed_as_an_image(tenants, login):
    from webriskops.storage import storage

    response = login(tenants.member.email).get(
        f"/scan-runs/{tenants.run.id}/artifacts/{tenants.screenshot}"
    )
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == storage().get(tenants.screenshot)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_html_snapshot_never_runs_on_our_origin(tenants, login):
    response = login(tenants.member.email).get(
        f"/scan-runs/{tenants.run.id}/artifacts/{tenants.snapshot}"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" in response.data  # shown as text, not executed


def test_unredacted_snapshot_is_not_served(tenants, login):
    from webriskops.models import Artifact

    artifact = db.session.scalars(
        select(Artifact).where(Artifact.storage_key == tenants.snapshot)
    ).one()
    artifact.redacted_at = None
    db.session.commit()
    response = login(tenants.member.email).get(
        f"/scan-runs/{tenants.run.id}/artifacts/{tenants.snapshot}"
    )
    assert response.status_code == 404 and "still being redacted" in response.text


def test_empty_states_read_well(make_project, make_user, login):
    project = make_project(name="Fresh site")
    make_user(project.organization, "owner@acme.test")
    client = login("owner@acme.test")
    assert "No scans yet." in client.get(f"/projects/{project.id}").text
