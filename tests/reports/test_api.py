"""The read API with bearer tokens, its pagination, starting scans, and its OpenAPI entries."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from webriskops.auth.tokens import create_token
from webriskops.extensions import db
from webriskops.models import ApiToken, Organization, ScanRun


@pytest.fixture
def bearer(tenants) -> dict[str, str]:
    """Authorization headers of organization A's member."""
    token = create_token(tenants.member)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_scan_run_detail_has_every_field(tenants, client, bearer):
    body = client.get(f"/api/scan-runs/{tenants.run.id}", headers=bearer).json
    assert body["scanRunId"] == tenants.run.id and body["projectId"] == tenants.project.id
    assert body["status"] == "completed" and body["reportStatus"] == "ready"
    assert body["counters"] == {
        "pagesScanned": 2,
        "issuesCount": 4,
        "highCount": 0,
        "mediumCount": 4,
        "lowCount": 0,
        "riskScore": 16,
    }
    assert body["error"] is None
    for stamp in ("createdAt", "startedAt", "finishedAt", "updatedAt"):
        assert body[stamp].endswith("Z")
    assert [page["artifacts"]["screenshotPath"] for page in body["pages"]][0] == tenants.screenshot
    assert set(body["pages"][0]) >= {
        "url",
        "normalizedUrl",
        "statusCode",
        "pageType",
        "responseHeaders",
        "title",
        "consoleErrorsCount",
        "networkErrorsCount",
        "loadTimeMs",
        "artifacts",
    }
    issue = body["issues"][0]
    assert set(issue) >= {
        "fingerprint",
        "category",
        "type",
        "severity",
        "title",
        "description",
        "confidence",
        "evidence",
        "businessImpact",
        "suggestedRemediation",
        "reproductionSteps",
        "screenshotPath",
        "occurrences",
    }
    assert issue["occurrences"] == ["https://example.com/page/0"]


def test_failed_run_carries_its_error(tenants, client, bearer, make_run, post_result):
    from tests import payloads

    run = make_run(tenants.project)
    post_result(payloads.failed(run.id, timeoutMs=30000))
    body = client.get(f"/api/scan-runs/{run.id}", headers=bearer).json
    assert body["status"] == "failed" and body["reportStatus"] is None
    assert body["error"] == {
        "code": "NAVIGATION_TIMEOUT",
        "message": "The page did not load.",
        "url": None,
        "timeoutMs": 30000,
    }
    assert body["pages"] == [] and body["issues"] == []


def test_scheme_is_case_insensitive(tenants, client):
    token = create_token(tenants.member)
    db.session.commit()
    response = client.get(
        f"/api/scan-runs/{tenants.run.id}", headers={"Authorization": f"bearer {token}"}
    )
    assert response.status_code == 200


def test_tokens_are_stored_only_as_digests(tenants):
    token = create_token(tenants.owner)
    db.session.commit()
    row = db.session.scalars(select(ApiToken).where(ApiToken.user_id == tenants.owner.id)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.prefix) and len(row.prefix) < len(token)


def test_runs_are_listed_newest_first_and_paginated(tenants, client, bearer, make_run):
    extra = [make_run(tenants.project).id for _ in range(4)]
    url = f"/api/projects/{tenants.project.id}/scan-runs"
    first = client.get(f"{url}?perPage=2", headers=bearer).json
    assert [item["scanRunId"] for item in first["items"]] == extra[::-1][:2]
    assert (first["page"], first["perPage"], first["total"]) == (1, 2, 5)
    assert first["next"] == f"{url}?page=2&perPage=2"
    last = client.get(f"{url}?page=3&perPage=2", headers=bearer).json
    assert [item["scanRunId"] for item in last["items"]] == [tenants.run.id]
    assert last["next"] is None
    assert "pages" not in last["items"][0]
    beyond = client.get(f"{url}?page=9&perPage=2", headers=bearer).json
    assert beyond["items"] == [] and beyond["total"] == 5
    default = client.get(url, headers=bearer).json
    assert default["perPage"] == 20 and len(default["items"]) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=%C2%B2", "page"),  # "²" is a digit to str.isdigit() but not to int()
        ("page=" + "9" * 5000, "page"),
        ("page=1.5", "page"),
        ("perPage=101", "perPage"),
        ("perPage=0", "perPage"),
        ("perPage=", "perPage"),
    ],
)
def test_bad_pagination_is_422(tenants, client, bearer, query, field):
    response = client.get(f"/api/projects/{tenants.project.id}/scan-runs?{query}", headers=bearer)
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == [field]


def test_start_scan_reserves_a_credit_without_csrf_token(tenants, client, bearer, app):
    assert app.config["WTF_CSRF_ENABLED"] is True
    response = client.post(f"/api/projects/{tenants.project.id}/scan-runs", headers=bearer)
    assert response.status_code == 201
    run_id = response.json["scanRunId"]
    assert response.json == {"scanRunId": run_id, "status": "queued"}
    assert response.headers["Location"] == f"/api/scan-runs/{run_id}"
    db.session.expire_all()
    assert db.session.get(ScanRun, run_id).credit_state == "reserved"
    org = db.session.get(Organization, tenants.org.id)
    assert (org.credits, org.reserved_credits) == (3, 1)


def test_start_scan_without_credits_is_402(tenants, client, bearer):
    org = db.session.get(Organization, tenants.org.id)
    org.credits = 0
    db.session.commit()
    response = client.post(f"/api/projects/{tenants.project.id}/scan-runs", headers=bearer)
    assert response.status_code == 402
    assert response.json["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert db.session.scalars(select(ScanRun).where(ScanRun.status == "queued")).all() == []


ROUTES = {
    ("/api/scan-runs/{scanRunId}", "get"): ("reports.api_scan_run", {"200", "401", "404", "422"}),
    ("/api/scan-runs/{scanRunId}/sarif", "get"): (
        "reports.api_scan_run_sarif",
        {"200", "401", "404"},
    ),
    ("/api/scan-runs/{scanRunId}/occurrences", "get"): (
        "reports.api_issue_occurrences",
        {"200", "401", "404", "422"},
    ),
    ("/api/projects/{projectId}/triage", "put"): (
        "reports.api_set_triage",
        {"200", "401", "404", "422"},
    ),
    ("/api/projects/{projectId}/scan-runs", "get"): (
        "reports.api_project_scan_runs",
        {"200", "401", "404", "422"},
    ),
    ("/api/projects/{projectId}/scan-runs", "post"): (
        "reports.api_start_scan",
        {"201", "401", "402", "404"},
    ),
}


@pytest.mark.parametrize(("path", "method"), list(ROUTES))
def test_openapi_documents_the_read_api(app, client, path, method):
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"][path][method]
    endpoint, statuses = ROUTES[(path, method)]
    assert operation["operationId"] == endpoint
    assert operation["security"] == [{"bearerToken": []}]
    assert statuses <= set(operation["responses"])
    # The documented path is the one the app serves, under the documented endpoint.
    flask_rule = path.replace("{scanRunId}", "<int:scan_run_id>").replace(
        "{projectId}", "<int:project_id>"
    )
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules() if rule.rule == flask_rule}
    assert endpoint in rules and method.upper() in rules[endpoint].methods
    assert spec["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
    }
