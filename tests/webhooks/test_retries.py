"""A receiver that fails twice then succeeds gets the event once as a success, retries recorded.

Run with in-process jobs and with Redis and a real RQ worker; the test moves each retry's
``available_at`` to now instead of waiting for the backoff.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests import payloads
from tests.jobs.conftest import work
from tests.webhooks.conftest import add_endpoint, make_due
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models.base import as_utc, utcnow
from webriskops.models.webhooks import WebhookAttempt, WebhookDelivery
from webriskops.webhooks import signing


@pytest.fixture(params=["in-process", "redis"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app_overrides(mode: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {"WEBHOOKS_ALLOW_PRIVATE": True}
    if mode == "redis":
        overrides["REDIS_URL"] = request.getfixturevalue("redis_url")
    return overrides


def sweep_and_work(mode: str) -> None:
    outbox.sweep()
    if mode == "redis":
        work()


def test_fails_twice_then_succeeds_exactly_once(app, post, runner, make_run, receiver, mode):
    run = make_run()
    _, secret = add_endpoint(runner, run.project.organization_id, receiver.url)
    receiver.answer(500, (429, {"Retry-After": "120"}))

    started = time.monotonic()
    assert post(payloads.failed(run.id)).status_code == 202
    assert time.monotonic() - started < 3  # nobody sleeps through a backoff
    if mode == "redis":
        work()
    assert len(receiver.requests) == 1
    first = db.session.scalars(select(WebhookAttempt)).one()
    assert first.outcome == "retry"
    # 5 s nominal backoff, ±20 % jitter.
    assert (
        utcnow() + timedelta(seconds=3) < as_utc(first.retry_at) < utcnow() + timedelta(seconds=7)
    )
    sweep_and_work(mode)
    assert len(receiver.requests) == 1  # not due yet

    make_due()
    sweep_and_work(mode)
    assert len(receiver.requests) == 2
    db.session.rollback()
    second = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.number == 2)).one()
    assert second.status_code == 429
    assert as_utc(second.retry_at) > utcnow() + timedelta(seconds=115)  # Retry-After: 120

    make_due()
    sweep_and_work(mode)
    for _ in range(3):  # nothing more is ever sent
        make_due()
        sweep_and_work(mode)

    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        signing.verify(secret, request.headers, request.body)
        assert orjson.loads(request.body)["type"] == "scan_run.failed"
    assert receiver.requests[0].body == receiver.requests[2].body
    db.session.rollback()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    assert [(a.number, a.status_code, a.outcome) for a in delivery.attempt_log] == [
        (1, 500, "retry"),
        (2, 429, "retry"),
        (3, 200, "succeeded"),
    ]
