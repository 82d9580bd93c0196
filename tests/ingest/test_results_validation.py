"""Schema rules of 3.2-3.4: every rule rejects with the dotted field path it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests import payloads
from webriskops.extensions import db
from webriskops.models import ScanPage

RUN_ID = 1


def set_path(data: dict, path: str, value: Any) -> dict:
    """Set (or, with ``...``, delete) a dotted path in ``data``."""
    parts = path.split(".")
    target: Any = data
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


def single() -> dict:
    return payloads.completed(RUN_ID, [payloads.issue(1)])


def multi() -> dict:
    return payloads.multi(RUN_ID, pages=3, issues_per_page=1)


BAD = "scan-runs/1/"
# (builder, path to change, new value (... deletes), field path expected in the error)
CASES: list[tuple[Callable[[], dict], str, Any, str]] = [
    (single, "scanRunId", ..., "scanRunId"),
    (single, "scanRunId", "1", "scanRunId"),
    (single, "scanRunId", 1.0, "scanRunId"),
    (single, "scanRunId", True, "scanRunId"),
    (single, "scanRunId", 0, "scanRunId"),
    (single, "scanRunId", -5, "scanRunId"),
    (single, "scanRunId", 2**63, "scanRunId"),
    (single, "scanRunId", None, "scanRunId"),
    (single, "status", ..., "status"),
    (single, "status", "done", "status"),
    (single, "status", 1, "status"),
    (single, "page", ..., "page"),
    (single, "artifacts", ..., "artifacts"),
    (single, "issues", ..., "issues"),
    (single, "issues", {}, "issues"),
    (single, "page.url", ..., "page.url"),
    (single, "page.url", "ftp://example.com/", "page.url"),
    (single, "page.url", "/relative", "page.url"),
    (single, "page.url", "https://" + "a" * 2050, "page.url"),
    (single, "page.url", "https://exa mple.com", "page.url"),
    (single, "page.normalizedUrl", "javascript:alert(1)", "page.normalizedUrl"),
    (single, "page.statusCode", 99, "page.statusCode"),
    (single, "page.statusCode", 600, "page.statusCode"),
    (single, "page.statusCode", "200", "page.statusCode"),
    (single, "page.pageType", "blog", "page.pageType"),
    (single, "page.responseHeaders", ..., "page.responseHeaders"),
    (single, "page.responseHeaders", [], "page.responseHeaders"),
    (single, "page.responseHeaders.x-powered-by", 5, "page.responseHeaders.x-powered-by"),
    (single, "page.responseHeaders.x-long", "v" * 8193, "page.responseHeaders.x-long"),
    (single, "page.responseHeaders", {f"h{i}": "v" for i in range(201)}, "page.responseHeaders"),
    (single, "page.title", "t" * 501, "page.title"),
    (single, "page.consoleErrorsCount", -1, "page.consoleErrorsCount"),
    (single, "page.networkErrorsCount", 1.5, "page.networkErrorsCount"),
    (single, "page.loadTimeMs", "fast", "page.loadTimeMs"),
    (single, "page.loadTimeMs", 2**40, "page.loadTimeMs"),
    (single, "artifacts.screenshotPath", ..., "artifacts.screenshotPath"),
    (
        single,
        "artifacts.screenshotPath",
        "data:image/png;base64,iVBORw0KGgo=",
        "artifacts.screenshotPath",
    ),
    (
        single,
        "artifacts.screenshotPath",
        "https://cdn.example.com/a.png",
        "artifacts.screenshotPath",
    ),
    (single, "artifacts.screenshotPath", "<html><body>x</body></html>", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", "iVBORw0KGgo" * 40, "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", "scan-runs/2/a.png", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", "/scan-runs/1/a.png", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", BAD + "../2/a.png", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", BAD + "a//b.png", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", BAD + "a b.png", "artifacts.screenshotPath"),
    (single, "artifacts.screenshotPath", BAD + "a" * 512, "artifacts.screenshotPath"),
    (single, "artifacts.htmlSnapshotPath", 42, "artifacts.htmlSnapshotPath"),
    (single, "issues.0.category", "bugs", "issues.0.category"),
    (single, "issues.0.type", "Has Spaces", "issues.0.type"),
    (single, "issues.0.type", "a" * 101, "issues.0.type"),
    (single, "issues.0.severity", "critical", "issues.0.severity"),
    (single, "issues.0.title", "", "issues.0.title"),
    (single, "issues.0.title", "t" * 301, "issues.0.title"),
    (single, "issues.0.description", ..., "issues.0.description"),
    (single, "issues.0.description", "d" * 10001, "issues.0.description"),
    (single, "issues.0.fingerprint", "short", "issues.0.fingerprint"),
    (single, "issues.0.fingerprint", "has space in it", "issues.0.fingerprint"),
    (single, "issues.0.fingerprint", "f" * 129, "issues.0.fingerprint"),
    (single, "issues.0.confidence", 101, "issues.0.confidence"),
    (single, "issues.0.confidence", -1, "issues.0.confidence"),
    (single, "issues.0.confidence", 50.5, "issues.0.confidence"),
    (single, "issues.0.evidence", ..., "issues.0.evidence"),
    (single, "issues.0.evidence", "e" * 20001, "issues.0.evidence"),
    (single, "issues.0.evidence", "nul\x00byte", "issues.0.evidence"),
    (single, "issues.0.businessImpact", "b" * 10001, "issues.0.businessImpact"),
    (single, "issues.0.suggestedRemediation", ["x"], "issues.0.suggestedRemediation"),
    (single, "issues.0.reproductionSteps", ["s"] * 51, "issues.0.reproductionSteps"),
    (single, "issues.0.reproductionSteps", ["s" * 2001], "issues.0.reproductionSteps.0"),
    (single, "issues.0.reproductionSteps", "one step", "issues.0.reproductionSteps"),
    (single, "issues.0.screenshotPath", "scan-runs/9/x.png", "issues.0.screenshotPath"),
    (single, "counters", {"pagesScanned": -1}, "counters.pagesScanned"),
    (single, "counters", {"riskScore": 101}, "counters.riskScore"),
    (single, "counters", {"riskScore": "high"}, "counters.riskScore"),
    (single, "counters", {"highCount": True}, "counters.highCount"),
    (multi, "pages.2.artifacts.screenshotPath", ..., "pages.2.artifacts.screenshotPath"),
    (multi, "pages.1.page.statusCode", 700, "pages.1.page.statusCode"),
    (multi, "pages.0.issues.0.confidence", 1000, "pages.0.issues.0.confidence"),
    (multi, "pages.0.issues", ..., "pages.0.issues"),
    (multi, "pages", "nope", "pages"),
    (multi, "page", payloads.page(RUN_ID)["page"], "pages"),
]


@pytest.mark.parametrize(
    ("builder", "path", "value", "field"),
    CASES,
    ids=[f"{case[1]}={str(case[2])[:20]}" for case in CASES],
)
def test_invalid_field_is_reported_at_its_path(post, make_run, builder, path, value, field):
    run = make_run()
    assert run.id == RUN_ID
    response = post(set_path(builder(), path, value))

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert field in error["fields"], error["fields"]
    assert all(isinstance(m, str) for m in error["fields"][field])
    assert db.session.scalar(select(func.count()).select_from(ScanPage)) == 0


def test_neither_shape_is_refused(post, make_run):
    run = make_run()
    response = post({"scanRunId": run.id, "status": "completed"})
    assert response.status_code == 422
    assert "pages" in response.get_json()["error"]["fields"]


def test_every_error_is_reported_at_once(post, make_run):
    run = make_run()
    data = payloads.completed(run.id)
    data["page"]["statusCode"] = 9
    data["issues"][0]["confidence"] = 500
    data["artifacts"]["screenshotPath"] = "data:image/png;base64,AAAA"
    fields = post(data).get_json()["error"]["fields"]
    assert {"page.statusCode", "issues.0.confidence", "artifacts.screenshotPath"} <= set(fields)
    assert "storage paths" in fields["artifacts.screenshotPath"][0]


def test_failed_payload_rules(post, make_run):
    run = make_run()
    for error, field in [
        ({}, "error.code"),
        ({"code": "lower", "message": "m"}, "error.code"),
        ({"code": "E", "message": "m"}, "error.code"),
        ({"code": "TIMEOUT", "message": ""}, "error.message"),
        ({"code": "TIMEOUT", "message": "m" * 2001}, "error.message"),
        ({"code": "TIMEOUT", "message": "m", "url": "file:///etc/passwd"}, "error.url"),
        ({"code": "TIMEOUT", "message": "m", "timeoutMs": 86_400_001}, "error.timeoutMs"),
        ({"code": "TIMEOUT", "message": "m", "timeoutMs": -1}, "error.timeoutMs"),
    ]:
        response = post({"scanRunId": run.id, "status": "failed", "error": error})
        assert response.status_code == 422
        assert field in response.get_json()["error"]["fields"], (error, field)
    missing = post({"scanRunId": run.id, "status": "failed"})
    assert "error" in missing.get_json()["error"]["fields"]


def test_unknown_fields_are_ignored(post, make_run):
    run = make_run()
    data = payloads.completed(run.id)
    data["scannerVersion"] = "9.9"
    data["page"]["somethingNew"] = {"nested": True}
    data["issues"][0]["cwe"] = 79
    assert post(data).status_code == 202


def test_count_limits_are_field_errors(app, post, make_run):
    app.config.update(MAX_PAGES=2, MAX_ISSUES_PER_PAGE=3, MAX_ISSUES_PER_PAYLOAD=4)
    run = make_run()
    too_many_pages = payloads.multi(run.id, pages=3, issues_per_page=0)
    assert "pages" in post(too_many_pages).get_json()["error"]["fields"]
    per_page = payloads.multi(run.id, pages=2, issues_per_page=4)
    assert "pages.0.issues" in post(per_page).get_json()["error"]["fields"]
    per_payload = payloads.multi(run.id, pages=2, issues_per_page=3)
    assert "pages" in post(per_payload).get_json()["error"]["fields"]
    single_page = payloads.completed(run.id, [payloads.issue(n) for n in range(4)])
    assert "issues" in post(single_page).get_json()["error"]["fields"]


def test_quoted_and_bare_idempotency_keys_and_bad_ones(post, make_run):
    run = make_run()
    assert post(payloads.completed(run.id), {"Idempotency-Key": '"abc"'}).status_code == 202
    for bad in ("", '""', "k" * 256, "caf\u00e9"):
        response = post(
            payloads.completed(run.id), {"Idempotency-Key": bad.encode("utf-8").decode("latin-1")}
        )
        assert response.status_code == 422, bad
        assert "Idempotency-Key" in response.get_json()["error"]["fields"]
