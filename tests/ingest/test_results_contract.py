"""``POST /api/scanner/results``: the 3.8 table, the 3.2-3.6 rules, on PostgreSQL and SQLite."""

from __future__ import annotations

import gzip

import orjson
import pytest
from sqlalchemy import func, select

from tests import payloads
from webriskops.extensions import db
from webriskops.models import (
    Artifact,
    CreditEntry,
    Issue,
    IssueOccurrence,
    Organization,
    ScanPage,
    ScanRun,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_completed_single_page_is_stored_and_answered(post, make_run):
    run = make_run()
    response = post(
        payloads.completed(run.id, [payloads.issue(1, "high"), payloads.issue(2, "low")])
    )

    assert response.status_code == 202
    body = response.get_json()
    assert body == {
        "scanRunId": run.id,
        "status": "completed",
        "duplicate": False,
        "pagesStored": 1,
        "issuesStored": 2,
        "counters": {
            "pagesScanned": 1,
            "issuesCount": 2,
            "highCount": 1,
            "mediumCount": 0,
            "lowCount": 1,
            "riskScore": 11,
        },
        "links": {"scanRun": f"/api/scan-runs/{run.id}", "report": f"/scan-runs/{run.id}/report"},
    }
    db.session.expire_all()
    stored = db.session.get(ScanRun, run.id)
    assert stored.status == "completed"
    assert stored.credit_state == "consumed"
    assert stored.report_status in ("pending", "ready")
    assert count(ScanPage) == 1
    assert count(Issue) == 2
    assert count(IssueOccurrence) == 2
    keys = set(db.session.scalars(select(Artifact.storage_key)))
    assert keys == {f"scan-runs/{run.id}/page-0.png", f"scan-runs/{run.id}/page-0.html"}
    page = db.session.scalars(select(ScanPage)).one()
    assert page.response_headers == {"content-type": "text/html", "x-powered-by": "Express"}


def test_multi_page_same_fingerprint_is_one_issue_with_occurrences(post, make_run):
    run = make_run()
    shared = payloads.issue(7, "high")
    data = payloads.multi(run.id, pages=3, issues_per_page=1)
    for entry in data["pages"]:
        entry["issues"].append(dict(shared))
    response = post(data)

    assert response.status_code == 202
    body = response.get_json()
    assert body["pagesStored"] == 3
    assert body["issuesStored"] == 4
    assert body["counters"]["highCount"] == 1
    issue = db.session.scalars(
        select(Issue).where(Issue.fingerprint == shared["fingerprint"])
    ).one()
    assert len(issue.occurrences) == 3


def test_counters_sent_are_stored_and_missing_ones_derived(post, make_run):
    run = make_run()
    data = payloads.multi(run.id, pages=2, issues_per_page=2)
    data["counters"] = {"pagesScanned": 40, "riskScore": 55.5}
    body = post(data).get_json()

    assert body["counters"] == {
        "pagesScanned": 40,
        "issuesCount": 4,
        "highCount": 0,
        "mediumCount": 4,
        "lowCount": 0,
        "riskScore": 55.5,
    }


def test_risk_score_is_capped_at_100(post, make_run):
    run = make_run()
    issues = [payloads.issue(n, "high") for n in range(11)]
    assert post(payloads.completed(run.id, issues)).get_json()["counters"]["riskScore"] == 100


def test_empty_issues_are_allowed(post, make_run):
    run = make_run()
    response = post(payloads.completed(run.id, []))
    assert response.status_code == 202
    assert response.get_json()["counters"]["riskScore"] == 0


def test_failed_run_stores_error_and_restores_credit_once(post, make_run, app):
    run = make_run()
    org_id = run.project.organization_id
    before = db.session.get(Organization, org_id).credits

    response = post(payloads.failed(run.id, url="https://example.com/x", timeoutMs=30000))
    assert response.status_code == 202
    assert response.get_json()["status"] == "failed"
    again = post(payloads.failed(run.id))
    assert again.get_json()["duplicate"] is True

    db.session.expire_all()
    stored = db.session.get(ScanRun, run.id)
    assert (stored.status, stored.error_code, stored.error_timeout_ms) == (
        "failed",
        "NAVIGATION_TIMEOUT",
        30000,
    )
    assert stored.credit_state == "restored"
    org = db.session.get(Organization, org_id)
    assert (org.credits, org.reserved_credits) == (before + 1, 0)
    restores = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.kind == "restore")
    )
    assert restores == 1
    assert count(ScanPage) == 0


def test_failed_payload_ignores_page_data(post, make_run):
    run = make_run()
    data = {**payloads.failed(run.id), "page": {"url": "nonsense"}, "issues": "nonsense"}
    assert post(data).status_code == 202
    assert count(ScanPage) == 0


def test_settlement_is_a_database_guarantee(make_run, app):
    from sqlalchemy.exc import IntegrityError

    from webriskops.models import settle_credit

    run = make_run()
    org_id = run.project.organization_id
    settle_credit(org_id, run.id, consumed=False)
    db.session.commit()
    with pytest.raises(IntegrityError):
        settle_credit(org_id, run.id, consumed=False)
    db.session.rollback()


def test_terminal_run_answers_duplicate_and_changes_nothing(post, make_run):
    run = make_run()
    post(payloads.completed(run.id))
    pages, issues = count(ScanPage), count(Issue)

    response = post(payloads.multi(run.id, pages=2))
    assert response.status_code == 202
    body = response.get_json()
    assert body["duplicate"] is True
    assert body["status"] == "completed"
    assert (body["pagesStored"], body["issuesStored"]) == (0, 0)
    assert (count(ScanPage), count(Issue)) == (pages, issues)
    failed = post(payloads.failed(run.id)).get_json()
    assert (failed["duplicate"], failed["status"]) == (True, "completed")


def test_unknown_scan_run(post, app):
    response = post(payloads.completed(999999))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "SCAN_RUN_NOT_FOUND"
    assert "scanRunId" in error["fields"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Scanner-Secret": None}, 401),
        ({"X-Scanner-Secret": "wrong"}, 401),
        ({"X-Scanner-Secret": ""}, 401),
        ({"X-Scanner-Secret": "test-scanner-secret-012345678"}, 401),
    ],
)
def test_authentication(post, make_run, headers, expected):
    run = make_run()
    response = post(payloads.completed(run.id), headers)
    assert response.status_code == expected
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert count(ScanPage) == 0


def test_no_secret_configured_refuses_everything(app, post, make_run):
    app.config["SCANNER_SHARED_SECRET"] = None
    run = make_run()
    assert post(payloads.completed(run.id)).status_code == 401


def test_previous_secret_works_during_rotation(app, post, make_run):
    app.config["SCANNER_SHARED_SECRET_PREVIOUS"] = "the-previous-secret-abcdef"
    run = make_run()
    response = post(payloads.completed(run.id), {"X-Scanner-Secret": "the-previous-secret-abcdef"})
    assert response.status_code == 202


def test_unauthenticated_answer_says_nothing_about_the_payload(post):
    for body in (b"not json", orjson.dumps(payloads.completed(1)), b"x" * 100):
        response = post(body, {"X-Scanner-Secret": "nope", "Content-Type": "text/plain"})
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None],
)
def test_media_type(post, make_run, content_type):
    run = make_run()
    response = post(payloads.completed(run.id), {"Content-Type": content_type})
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_media_type_parameters_are_allowed(post, make_run):
    run = make_run()
    response = post(payloads.completed(run.id), {"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'"x"', b"null", b"{'a': 1}", b"\xff\xfe", b"[" * 5000]
)
def test_malformed_json(post, body):
    response = post(body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "MALFORMED_JSON"


def test_body_limit(app, post, make_run):
    app.config["MAX_BODY_BYTES"] = 2000
    run = make_run()
    data = payloads.completed(run.id)
    data["padding"] = "x" * 3000
    response = post(data)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_gzip_body_is_accepted(post, make_run):
    run = make_run()
    body = gzip.compress(orjson.dumps(payloads.completed(run.id)))
    response = post(body, {"Content-Encoding": "gzip"})
    assert response.status_code == 202


def test_gzip_bomb_is_refused_by_decompressed_size(app, post, make_run):
    app.config["MAX_BODY_BYTES"] = 100_000
    run = make_run()
    data = payloads.completed(run.id)
    data["padding"] = " " * 5_000_000
    body = gzip.compress(orjson.dumps(data))
    assert len(body) < 100_000
    response = post(body, {"Content-Encoding": "gzip"})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b'{"a":1}')[:-6]])
def test_broken_gzip(post, body):
    response = post(body, {"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_other_content_encoding_is_refused(post, make_run):
    run = make_run()
    response = post(payloads.completed(run.id), {"Content-Encoding": "br"})
    assert response.status_code == 415


def test_order_body_checks_come_before_schema(app, post):
    app.config["MAX_BODY_BYTES"] = 50
    response = post(
        {"scanRunId": "x", "status": "nope", "padding": "y" * 100}, {"Content-Type": "text/plain"}
    )
    assert response.status_code == 413


def test_every_response_has_a_request_id(post, client):
    assert post(b"{").headers["X-Request-Id"]
    assert client.get("/healthz").headers["X-Request-Id"]
    echoed = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
