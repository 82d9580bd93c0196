"""Fields the contract stores as sent (issue ``type`` and ``fingerprint``, artifact keys,
response header names, ``error.code``) refuse a value a redaction rule matches.

They have strict patterns and are shown, indexed and logged verbatim, so a secret in
one is refused with a 422 ``VALIDATION_FAILED`` naming the field, rather than stored
or silently altered. Both the schemas and the fast acceptor refuse it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from rq import SimpleWorker

from tests import payloads
from webriskops.errors import ApiError
from webriskops.extensions import db
from webriskops.ingest import fastpath
from webriskops.ingest.schemas import CompletedResultSchema, Limits, load_result
from webriskops.jobs import queue
from webriskops.models import OutboxJob, ScanRun

AWS_KEY = "AKIAZ7Q4XK2M9TRB3PLW"
GITHUB_TOKEN = "ghp_R8fK2pLx9QvT4mWz7NcB3yHd6JsA1uQw3eRt"
MAILGUN_KEY = "key-3a6f0e5c9b2d4f7a8c1e0b9d6f3a2c5e"


def _single(run_id: int) -> dict[str, Any]:
    return payloads.completed(run_id, [payloads.issue(1)])


def _set_type(data: dict) -> None:
    data["issues"][0]["type"] = MAILGUN_KEY


def _set_fingerprint(data: dict) -> None:
    data["issues"][0]["fingerprint"] = f"fp:{GITHUB_TOKEN}"


def _set_screenshot(data: dict) -> None:
    data["artifacts"]["screenshotPath"] = f"scan-runs/{data['scanRunId']}/{AWS_KEY}.png"


def _set_snapshot(data: dict) -> None:
    data["artifacts"]["htmlSnapshotPath"] = f"scan-runs/{data['scanRunId']}/{GITHUB_TOKEN}.html"


def _set_issue_screenshot(data: dict) -> None:
    data["issues"][0]["screenshotPath"] = f"scan-runs/{data['scanRunId']}/{AWS_KEY}.png"


def _set_header_name(data: dict) -> None:
    data["page"]["responseHeaders"][f"x-debug-{GITHUB_TOKEN}"] = "1"


CASES: list[tuple[Callable[[dict], None], str]] = [
    (_set_type, "issues.0.type"),
    (_set_fingerprint, "issues.0.fingerprint"),
    (_set_screenshot, "artifacts.screenshotPath"),
    (_set_snapshot, "artifacts.htmlSnapshotPath"),
    (_set_issue_screenshot, "issues.0.screenshotPath"),
    (_set_header_name, "page.responseHeaders.x-debug-[REDACTED:github_token]"),
]


FAST_COMPLETED = fastpath.compile_schema(CompletedResultSchema())


def _fast_load(data: dict) -> dict:
    loaded = FAST_COMPLETED(data)
    assert loaded is not fastpath.REJECTED
    return loaded


@pytest.mark.parametrize(("mutate", "field"), CASES)
def test_a_secret_in_a_field_stored_as_sent_is_refused_by_both_validators(
    mutate: Callable[[dict], None], field: str
) -> None:
    data = _single(7)
    assert not fastpath.holds_stored_secret(_fast_load(payloads.deep(data)))
    mutate(data)

    assert fastpath.holds_stored_secret(_fast_load(data))
    assert field.split(".")[0] in CompletedResultSchema().validate(data)
    with pytest.raises(ApiError) as raised:
        load_result(data, Limits())
    assert raised.value.fields == {
        field: ["Must not contain a secret: this field is stored as sent."]
    }
    assert GITHUB_TOKEN not in str(raised.value.fields)


@pytest.mark.parametrize(
    ("kind", "fingerprint"),
    [
        # The reference scanner's own: ``<type>:<hash>``, where ``:`` is no assignment.
        ("secret-in-page-source", "secret-in-page-source:0123456789abcdef0123456789abcdef"),
        ("password-form-over-http", "password-form-over-http:9f86d081884c7d659a2feaa0c55ad015"),
        ("session-cookie-insecure", "session-cookie-insecure:4f3a9c0d1e2b7a6f5c8d9e0f1a2b3c4d"),
        ("missing-header", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_type_and_fingerprint_named_like_secrets_are_accepted(kind: str, fingerprint: str) -> None:
    data = _single(7)
    data["issues"][0].update(type=kind, fingerprint=fingerprint)
    assert not fastpath.holds_stored_secret(_fast_load(payloads.deep(data)))
    assert load_result(data, Limits())["issues"][0]["fingerprint"] == fingerprint


def test_ordinary_values_of_those_fields_are_accepted() -> None:
    data = _single(7)
    issue = data["issues"][0]
    issue["type"] = "exposed-secret:aws_access_key_id"
    issue["fingerprint"] = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    data["page"]["responseHeaders"]["x-amz-request-id"] = "4442587FB7D0A2F9"
    assert load_result(data, Limits())["issues"][0]["type"] == issue["type"]


@pytest.mark.parametrize("mutate_field", CASES)
def test_the_api_answers_422_and_stores_nothing(app, post, make_run, mutate_field) -> None:
    mutate, field = mutate_field
    run = make_run()
    data = _single(run.id)
    mutate(data)

    response = post(data)

    assert response.status_code == 422
    body = response.get_json()["error"]
    assert body["code"] == "VALIDATION_FAILED"
    assert field in body["fields"]
    assert GITHUB_TOKEN not in response.get_data(as_text=True)
    assert AWS_KEY not in response.get_data(as_text=True)


@pytest.fixture
def app_overrides(redis_url: str) -> dict[str, Any]:
    """Jobs go to the test Redis database."""
    return {"REDIS_URL": redis_url}


def test_a_secret_error_code_never_reaches_the_worker_log(app, post, make_run, caplog) -> None:
    secret_run, plain_run = make_run(), make_run()
    with caplog.at_level(logging.DEBUG):
        refused = post(payloads.failed(secret_run.id, code=AWS_KEY))
        accepted = post(payloads.failed(plain_run.id, code="NAVIGATION_TIMEOUT"))
        SimpleWorker([queue.queue()], connection=queue.connection()).work(burst=True)

    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {
        "error.code": ["Must not contain a secret: this field is stored as sent."]
    }
    assert accepted.status_code == 202
    # The worker ran the accepted run's jobs; the refused run queued none.
    jobs = OutboxJob.query.all()
    assert {job.args.get("scan_run_id") for job in jobs} == {plain_run.id}
    assert {job.state for job in jobs} == {"done"}
    assert db.session.get(ScanRun, plain_run.id).error_code == "NAVIGATION_TIMEOUT"
    assert db.session.get(ScanRun, secret_run.id).error_code is None
    assert AWS_KEY not in caplog.text
