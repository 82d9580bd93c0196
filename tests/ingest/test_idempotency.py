"""Section 3.6: Idempotency-Key replay, reuse, in-flight conflict and retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select, update

from tests import payloads
from webriskops.extensions import db
from webriskops.ingest.idempotency import request_hash
from webriskops.models import IdempotencyRecord, Issue, ScanPage
from webriskops.models.base import utcnow

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)


def pages() -> int:
    return db.session.scalar(select(func.count()).select_from(ScanPage))


def test_same_key_same_body_replays_the_first_answer(post, make_run):
    run = make_run()
    body = orjson.dumps(payloads.completed(run.id))
    first = post(body, {"Idempotency-Key": "attempt-1"})
    second = post(body, {"Idempotency-Key": "attempt-1"})

    assert first.status_code == second.status_code == 202
    assert second.data == first.data
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.get_json()["duplicate"] is False
    assert pages() == 1


def test_replay_works_with_the_quoted_form_and_gzip(post, make_run):
    import gzip

    run = make_run()
    body = orjson.dumps(payloads.completed(run.id))
    post(body, {"Idempotency-Key": "k-2"})
    replay = post(gzip.compress(body), {"Idempotency-Key": '"k-2"', "Content-Encoding": "gzip"})
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_same_key_other_body_is_refused(post, make_run):
    run = make_run()
    post(payloads.completed(run.id), {"Idempotency-Key": "k"})
    response = post(payloads.failed(run.id), {"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def hold_key(key: str, body: bytes, since: datetime) -> None:
    """Leave ``key`` claimed by a request that started at ``since`` and never finished."""
    db.session.add(
        IdempotencyRecord(
            key=key,
            request_hash=request_hash(body),
            state="processing",
            locked_at=since,
            created_at=since,
            expires_at=since + timedelta(hours=24),
        )
    )
    db.session.commit()


def test_key_in_flight_answers_conflict(post, make_run):
    run = make_run()
    body = orjson.dumps(payloads.completed(run.id))
    hold_key("busy", body, utcnow())
    response = post(body, {"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert pages() == 0


def test_a_key_left_by_a_crashed_request_is_taken_over(app, post, make_run):
    run = make_run()
    body = orjson.dumps(payloads.completed(run.id))
    stale = utcnow() - timedelta(seconds=app.config["IDEMPOTENCY_LOCK_SECONDS"] + 5)
    hold_key("stale", body, stale)
    assert post(body, {"Idempotency-Key": "stale"}).status_code == 202
    assert pages() == 1


def test_validation_failure_releases_the_key(post, make_run):
    run = make_run()
    broken = payloads.completed(run.id)
    broken["page"]["statusCode"] = 1
    assert post(broken, {"Idempotency-Key": "fixme"}).status_code == 422
    unknown = post(payloads.completed(424242), {"Idempotency-Key": "fixme"})
    assert unknown.get_json()["error"]["code"] == "SCAN_RUN_NOT_FOUND"
    assert post(payloads.completed(run.id), {"Idempotency-Key": "fixme"}).status_code == 202
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_keys_are_kept_24_hours_then_forgotten(app, post, make_run):
    run = make_run()
    body = orjson.dumps(payloads.completed(run.id))
    post(body, {"Idempotency-Key": "old"})
    record = db.session.get(IdempotencyRecord, "old")
    kept = record.expires_at - record.created_at
    assert kept >= timedelta(hours=24)

    db.session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    after = post(body, {"Idempotency-Key": "old"})
    assert "Idempotent-Replayed" not in after.headers
    assert after.get_json()["duplicate"] is True


def test_duplicate_without_key_stores_nothing_again(post, make_run):
    run = make_run()
    post(payloads.completed(run.id, [payloads.issue(1), payloads.issue(2)]))
    post(payloads.completed(run.id, [payloads.issue(3)]))
    assert db.session.scalar(select(func.count()).select_from(Issue)) == 2
