"""``GET /metrics``: hidden without a token, refused with a wrong one, and what it counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, select, update

from tests import payloads
from tests.jobs.conftest import post, work  # noqa: F401  (post is a fixture)
from webriskops import metrics
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import OutboxJob

TOKEN = "metrics-token-0123456789"  # noqa: S105 - tests only


@pytest.fixture
def app_overrides(redis_url: str) -> dict[str, Any]:
    """Jobs go to the test Redis; the metrics token is set."""
    return {"REDIS_URL": redis_url, "METRICS_TOKEN": TOKEN}


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_without_a_configured_token_there_is_no_metrics_route(app, client):
    app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}", "Bearer "]
)
def test_a_missing_or_wrong_token_is_refused(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "webriskops" not in response.get_data(as_text=True)


def test_the_token_is_compared_in_constant_time(monkeypatch, client):
    compared = []
    real = metrics.hmac.compare_digest
    monkeypatch.setattr(
        metrics.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b)
    )
    client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert compared == [(b"Bearer nope", f"Bearer {TOKEN}".encode())]


def test_postbacks_jobs_backlog_and_queues_are_counted(app, client, post, make_run):  # noqa: F811
    before = scrape(client)
    accepted = before.get(("webriskops_postbacks_total", (("outcome", "accepted"),)), 0)
    invalid = before.get(("webriskops_postbacks_total", (("outcome", "invalid"),)), 0)
    runs = [make_run() for _ in range(3)]
    for run in runs:
        assert post(payloads.completed(run.id)).status_code == 202
    assert post({"scanRunId": runs[0].id}).status_code == 422

    waiting = scrape(client)
    assert waiting[("webriskops_postbacks_total", (("outcome", "accepted"),))] == accepted + 3
    assert waiting[("webriskops_postbacks_total", (("outcome", "invalid"),))] == invalid + 1
    assert waiting[("webriskops_outbox_rows", (("state", "enqueued"),))] == 3
    assert waiting[("webriskops_outbox_oldest_age_seconds", ())] >= 0
    assert waiting[("webriskops_queue_depth", (("queue", "webriskops"),))] == 3
    assert waiting[("webriskops_queue_depth", (("queue", "webriskops-webhooks"),))] == 0
    assert waiting[("webriskops_queue_up", ())] == 1

    work()
    done = scrape(client)
    assert done[("webriskops_outbox_rows", (("state", "enqueued"),))] == 0
    assert done[("webriskops_outbox_oldest_age_seconds", ())] == 0
    assert done[("webriskops_queue_depth", (("queue", "webriskops"),))] == 0
    key = (("state", "done"), ("task", "finish_scan_run"))
    assert done[("webriskops_jobs_total", key)] == 3
    task = (("task", "finish_scan_run"),)
    assert done[("webriskops_job_duration_seconds_count", task)] == 3
    assert done[("webriskops_job_duration_seconds_sum", task)] > 0
    inf = (("le", "+Inf"), ("task", "finish_scan_run"))
    assert done[("webriskops_job_duration_seconds_bucket", inf)] == 3


def test_a_scrape_with_redis_down_still_answers(app, client):
    from tests.conftest import free_port

    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app.extensions.pop("redis", None)
    samples = scrape(client)
    assert samples[("webriskops_queue_up", ())] == 0


def test_pruning_old_done_jobs_keeps_every_count(app, client, post, make_run):  # noqa: F811
    runs = [make_run() for _ in range(3)]
    for run in runs:
        assert post(payloads.completed(run.id)).status_code == 202
    work()
    # One job failed for good, one still waits: neither is pruned.
    db.session.execute(insert(OutboxJob), [
        {"name": "redact_snapshots", "args": {"scan_run_id": runs[0].id}, "state": "failed"},
        {"name": "redact_snapshots", "args": {"scan_run_id": runs[1].id}, "state": "pending"},
    ])  # fmt: skip
    db.session.commit()
    before = {key: value for key, value in scrape(client).items() if "job" in key[0]}
    assert before[("webriskops_jobs_total", (("state", "done"), ("task", "finish_scan_run")))] == 3

    assert outbox.prune() == 0  # nothing is an hour old yet
    shift = outbox.DONE_RETENTION + timedelta(minutes=1)  # as if they ran that long ago
    db.session.execute(
        update(OutboxJob).values(
            available_at=OutboxJob.available_at - shift,
            started_at=OutboxJob.started_at - shift,
            finished_at=OutboxJob.finished_at - shift,
        )
    )
    db.session.commit()
    assert outbox.prune() == 3

    states = sorted(db.session.scalars(select(OutboxJob.state)))
    assert states == ["failed", "pending"]
    after = {key: value for key, value in scrape(client).items() if "job" in key[0]}
    assert after == pytest.approx(before)
    assert outbox.prune() == 0  # folded once
    assert {key: value for key, value in scrape(client).items() if "job" in key[0]} == after
