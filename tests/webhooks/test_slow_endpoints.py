"""A slow receiver costs one bounded attempt, recorded, and never delays another's report."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests import payloads
from tests.jobs.conftest import outbox_rows, work
from tests.webhooks.conftest import add_endpoint, make_due
from webriskops.extensions import db
from webriskops.jobs import outbox, queue, registry
from webriskops.jobs import runner as job_runner
from webriskops.models import ScanRun
from webriskops.models.webhooks import WebhookAttempt, WebhookDelivery
from webriskops.webhooks import service

DEADLINE = 1.5


@pytest.fixture
def app_overrides(redis_url: str) -> dict[str, Any]:
    """Jobs go to Redis (two queues); the receivers are on loopback."""
    return {"REDIS_URL": redis_url, "WEBHOOKS_ALLOW_PRIVATE": True}


@pytest.fixture
def dribbler() -> Iterator[str]:
    """A receiver that reads the request, then sends one header line every 0.3 s, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.3):
                    connection.sendall(b"X-Still-Thinking: yes\r\n")
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"
    stop.set()
    listener.close()


def attempts() -> list[WebhookAttempt]:
    db.session.rollback()
    rows = db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    db.session.rollback()
    return rows


def test_the_default_deadline_is_15_seconds_for_the_whole_attempt():
    assert service.ATTEMPT_DEADLINE_SECONDS == 15.0
    assert registry.get("deliver_webhook").queue == registry.WEBHOOKS_QUEUE
    assert registry.get("deliver_webhook").timeout > service.ATTEMPT_DEADLINE_SECONDS


def test_a_dribbling_receiver_is_cut_at_the_deadline_and_the_attempt_recorded(
    app, post, runner, make_run, dribbler, monkeypatch
):
    monkeypatch.setattr(service, "ATTEMPT_DEADLINE_SECONDS", DEADLINE)
    run = make_run()
    add_endpoint(runner, run.project.organization_id, dribbler)
    seen_before_sending: list[list[tuple[int, str]]] = []
    real_post = service.post

    def post_and_look(*args: Any) -> service.Response:
        # What another connection sees while the request is on its way.
        with db.engine.connect() as other:
            seen_before_sending.append(
                [
                    tuple(row)
                    for row in other.execute(select(WebhookAttempt.number, WebhookAttempt.outcome))
                ]
            )
        return real_post(*args)

    monkeypatch.setattr(service, "post", post_and_look)
    post(payloads.failed(run.id))
    work()
    started = time.monotonic()
    work(registry.WEBHOOKS_QUEUE)
    elapsed = time.monotonic() - started

    assert seen_before_sending == [[(1, "sending")]]  # recorded before it was made
    (attempt,) = attempts()
    assert attempt.outcome == "retry"
    assert attempt.error == f"timeout: no complete answer within {DEADLINE:g} s"
    assert DEADLINE * 1000 <= attempt.duration_ms < DEADLINE * 1000 + 1500
    assert elapsed < DEADLINE + 5  # the worker was held for the deadline, not per read
    db.session.rollback()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts) == ("pending", 1)


def test_a_slow_receiver_does_not_delay_another_organizations_report(
    app, post, runner, make_run, make_project, make_org, dribbler, monkeypatch
):
    monkeypatch.setattr(service, "ATTEMPT_DEADLINE_SECONDS", DEADLINE)
    slow = make_run(make_project(make_org("Slow hooks")))
    add_endpoint(runner, slow.project.organization_id, dribbler)
    other = make_run(make_project(make_org("Other")))
    assert post(payloads.completed(slow.id)).status_code == 202
    assert post(payloads.completed(other.id)).status_code == 202

    # The report worker never touches webhook deliveries: both reports are ready at once,
    # with the slow organization's deliveries still waiting on their own queue.
    work(registry.DEFAULT_QUEUE)
    assert attempts() == []  # the report worker made no delivery attempt at all
    db.session.rollback()
    assert db.session.get(ScanRun, other.id).report_status == "ready"
    assert db.session.get(ScanRun, slow.id).report_status == "ready"
    assert queue.depths()[registry.WEBHOOKS_QUEUE] == 2  # scan_run.completed, report.ready


class Killed(BaseException):
    """The worker dies mid-request (as abruptly as SIGKILL, for the test's purpose)."""


def test_an_attempt_cut_short_by_a_crash_is_recorded_and_retried_with_the_same_id(
    app, post, runner, make_run, monkeypatch
):

    run = make_run()
    calls: list[str] = []

    def die(url: str, secret: str, message_id: str, body: bytes) -> service.Response:
        calls.append(message_id)
        raise Killed

    add_endpoint(runner, run.project.organization_id, "http://127.0.0.1:9/hooks")
    post(payloads.failed(run.id))
    work(registry.DEFAULT_QUEUE)
    (deliver,) = [row for row in outbox_rows() if row.name == "deliver_webhook"]
    monkeypatch.setattr(service, "post", die)
    with pytest.raises(Killed):
        job_runner.run(deliver.id)
    assert [(a.number, a.outcome) for a in attempts()] == [(1, "sending")]

    monkeypatch.setattr(
        service, "post", lambda *args: calls.append(args[2]) or service.Response(status_code=204)
    )
    assert job_runner.run(deliver.id) == "done"  # the job again, after the crash
    assert [(a.number, a.outcome) for a in attempts()] == [(1, "interrupted")]
    assert attempts()[0].error == service.INTERRUPTED
    make_due()

    outbox.sweep()
    work()
    assert [(a.number, a.outcome) for a in attempts()] == [(1, "interrupted"), (2, "succeeded")]
    assert len(calls) == 2 and calls[0] == calls[1]  # the same webhook-id both times
