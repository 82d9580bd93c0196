"""The rough edges of issue 16: info counts, "SEO", normalized "Seen on" URLs, missing
screenshots, "Scan again", the docs link."""

from __future__ import annotations

import re

from tests import payloads
from tests.reports.conftest import put_artifacts
from webriskops.extensions import db
from webriskops.models import ScanRun


def test_scan_detail_cards_add_up_and_label_seo(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    issues = [
        payloads.issue(1, "high"),
        payloads.issue(2, "info", category="seo"),
        payloads.issue(3, "info", category="seo"),
    ]
    post_result(payloads.completed(run.id, issues))
    page = login(tenants.member.email).get(f"/scan-runs/{run.id}")
    assert re.search(r'id="count-info">2<', page.text)
    assert re.search(r'id="count-high">1<', page.text)
    assert ">SEO<" in page.text and ">Seo<" not in page.text
    assert 'href="/docs/"' in page.text


def test_seen_on_shows_the_normalized_url(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    payload = payloads.completed(run.id, [payloads.issue(1)])
    payload["page"]["url"] = "https://example.com/account?token=ghp_" + "a1B2" * 9
    payload["page"]["normalizedUrl"] = "https://example.com/account"
    post_result(payload)
    text = login(tenants.member.email).get(f"/scan-runs/{run.id}").text
    seen_on = text.split("<dt>Seen on</dt>")[1].split("</ul>")[0]
    assert "https://example.com/account<" in seen_on and "REDACTED" not in seen_on


def test_missing_screenshots_get_a_placeholder(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    payload = payloads.multi(run.id, pages=2, issues_per_page=1)
    put_artifacts({"pages": payload["pages"][:1]})  # the second was never uploaded
    post_result(payload)
    text = login(tenants.member.email).get(f"/scan-runs/{run.id}").text
    assert text.count("Screenshot not available") == 1
    assert text.count('<img src="/scan-runs/') == 1


def test_a_failed_run_offers_scan_again(tenants, make_run, post_result, login):
    run = make_run(tenants.project)
    post_result(payloads.failed(run.id, message="x" * 1500))
    member = login(tenants.member.email)
    page = member.get(f"/scan-runs/{run.id}")
    assert 'id="scan-again"' in page.text
    action = re.search(r'<form method="post" action="([^"]+)">\s*<input[^>]*csrf', page.text)
    token = member.csrf_token(f"/scan-runs/{run.id}")
    again = member.post(action.group(1), data={"csrf_token": token})
    assert again.status_code == 302
    db.session.expire_all()
    new_id = int(again.headers["Location"].rsplit("/", 1)[1])
    assert db.session.get(ScanRun, new_id).status == "queued"
