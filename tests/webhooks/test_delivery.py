"""Webhook deliveries to a real receiver: signed, recorded, retried, disabled by 410."""

from __future__ import annotations

import base64

import orjson
import pytest
from sqlalchemy import event, select

from tests import payloads
from tests.jobs.conftest import outbox_rows
from tests.webhooks.conftest import add_endpoint, make_due
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webriskops.webhooks import service, signing, tasks


def deliveries() -> list[WebhookDelivery]:
    db.session.rollback()
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def attempts() -> list[WebhookAttempt]:
    return db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()


def test_webhooks_add_prints_the_id_and_the_secret_once(app, runner, make_org):
    org = make_org()
    result = runner.invoke(args=["webhooks", "add", str(org.id), "https://hooks.example.com/x"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)  # stdout only: the CLI prints one JSON object there
    assert list(data) == ["webhookId", "secret"]
    assert data["secret"].startswith("whsec_")
    assert len(base64.b64decode(data["secret"][6:])) == 32
    listed = runner.invoke(args=["webhooks", "list", str(org.id)])
    assert data["secret"] not in listed.output
    assert orjson.loads(listed.stdout)["webhooks"][0]["url"] == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("org", "url", "message"),
    [
        (None, "http://127.0.0.1:8080/hook", "loopback or private"),
        (None, "http://localhost/hook", "loopback"),
        (None, "http://10.1.2.3/hook", "loopback or private"),
        (None, "ftp://hooks.example.com/x", "http or https"),
        (None, "https://user:pw@hooks.example.com/x", "credentials"),
        (999, "https://hooks.example.com/x", "organization 999 not found"),
    ],
)
def test_webhooks_add_refuses(app, runner, make_org, org, url, message):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    org_id = org or make_org().id
    result = runner.invoke(args=["webhooks", "add", str(org_id), url])
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_a_completed_run_sends_signed_events_with_summary_data_only(
    app, post, runner, make_run, receiver
):
    run = make_run()
    org_id = run.project.organization_id
    endpoint_id, secret = add_endpoint(runner, org_id, receiver.url)
    evidence = "Set-Cookie: session=abc123 leaked on the cart page"
    payload = payloads.completed(run.id, issues=[payloads.issue(1, evidence=evidence)])
    assert post(payload).status_code == 202

    assert [r.path for r in receiver.requests] == ["/hooks", "/hooks"]
    bodies = [orjson.loads(r.body) for r in receiver.requests]
    assert [b["type"] for b in bodies] == ["scan_run.completed", "report.ready"]
    for request in receiver.requests:
        signing.verify(secret, request.headers, request.body)
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["webhook-signature"].startswith("v1,")
        assert evidence.encode() not in request.body
        assert b"Missing security header" not in request.body
    assert receiver.requests[0].headers["webhook-id"] != receiver.requests[1].headers["webhook-id"]
    completed = bodies[0]
    assert set(completed) == {"type", "timestamp", "data"}
    assert completed["timestamp"].endswith("Z")
    assert completed["data"] == {
        "scanRunId": run.id,
        "projectId": run.project_id,
        "organizationId": org_id,
        "status": "completed",
        "counters": {
            "pagesScanned": 1,
            "issuesCount": 1,
            "highCount": 0,
            "mediumCount": 1,
            "lowCount": 0,
            "riskScore": 4,
        },
        # The run's report status when the event was queued (its report may be ready by then).
        "reportStatus": completed["data"]["reportStatus"],
        "links": {"scanRun": f"/api/scan-runs/{run.id}", "report": f"/scan-runs/{run.id}/report"},
    }
    assert completed["data"]["reportStatus"] in ("pending", "ready")
    assert bodies[1]["data"]["reportStatus"] == "ready"
    assert [(d.endpoint_id, d.status, d.attempts) for d in deliveries()] == [
        (endpoint_id, "succeeded", 1),
        (endpoint_id, "succeeded", 1),
    ]
    assert [(a.number, a.status_code, a.outcome) for a in attempts()] == [
        (1, 200, "succeeded"),
        (1, 200, "succeeded"),
    ]


def test_a_failed_run_sends_scan_run_failed_to_every_active_endpoint(
    app, post, runner, make_run, make_org, receiver
):
    run = make_run()
    org_id = run.project.organization_id
    add_endpoint(runner, org_id, receiver.url)
    add_endpoint(runner, org_id, receiver.url + "?second=1")
    add_endpoint(runner, make_org("Other").id, receiver.url + "?other-org=1")
    assert post(payloads.failed(run.id)).status_code == 202
    assert sorted(r.path for r in receiver.requests) == ["/hooks", "/hooks?second=1"]
    assert {orjson.loads(r.body)["data"]["status"] for r in receiver.requests} == {"failed"}


def test_send_webhooks_twice_sends_nothing_twice(app, post, runner, make_run, receiver):
    run = make_run()
    add_endpoint(runner, run.project.organization_id, receiver.url)
    post(payloads.failed(run.id))
    assert len(receiver.requests) == 1
    tasks.send_webhooks(event="scan_run.failed", scan_run_id=run.id)
    outbox.dispatch_ready()
    delivery = deliveries()[0]
    tasks.deliver_webhook(delivery.id, attempt=1)
    assert len(receiver.requests) == 1
    assert len(deliveries()) == 1


def test_the_events_of_a_run_read_its_endpoints_once(app, post, runner, make_run, receiver):
    run = make_run()
    first, _ = add_endpoint(runner, run.project.organization_id, receiver.url)
    assert post(payloads.completed(run.id)).status_code == 202  # the first endpoint has both
    second, _ = add_endpoint(runner, run.project.organization_id, receiver.url + "?second=1")
    reads = []

    def record(_conn, _cursor, statement, *_args):
        if "FROM webhook_endpoints" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        events = service.RunEvents(run.id)
        assert events.add("scan_run.completed") == events.add("report.ready") == 1  # the second
        assert events.add("scan_run.completed") == events.add("report.ready") == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    db.session.commit()

    assert len(reads) == 1
    assert [(d.endpoint_id, d.event_type) for d in deliveries()] == [
        (first, "scan_run.completed"),
        (first, "report.ready"),
        (second, "scan_run.completed"),
        (second, "report.ready"),
    ]


def test_410_gone_disables_the_endpoint(app, post, runner, make_run, receiver):
    first, second = make_run(), None
    endpoint_id, _ = add_endpoint(runner, first.project.organization_id, receiver.url)
    receiver.answer(410)
    post(payloads.failed(first.id))
    assert [(d.status, d.attempts) for d in deliveries()] == [("failed", 1)]
    assert attempts()[0].outcome == "gone"
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    assert (endpoint.active, endpoint.disabled_reason) == (False, "410 Gone")
    assert make_due() == 0  # no retry was scheduled

    second = make_run(first.project)
    post(payloads.failed(second.id))
    assert len(receiver.requests) == 1
    assert len(deliveries()) == 1


def test_delivery_is_given_up_after_the_schedule_and_shown_as_failed(
    app, post, runner, make_run, receiver
):
    run = make_run()
    endpoint_id, _ = add_endpoint(runner, run.project.organization_id, receiver.url)
    receiver.answer(*[503] * service.MAX_ATTEMPTS)
    post(payloads.failed(run.id))
    while make_due():
        outbox.sweep()
    assert len(receiver.requests) == service.MAX_ATTEMPTS
    assert {r.headers["webhook-id"] for r in receiver.requests} == {deliveries()[0].message_id}
    delivery = deliveries()[0]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed",
        service.MAX_ATTEMPTS,
        503,
    )
    outcomes = [a.outcome for a in attempts()]
    assert outcomes == ["retry"] * (service.MAX_ATTEMPTS - 1) + ["failed"]
    shown = orjson.loads(runner.invoke(args=["webhooks", "deliveries", str(endpoint_id)]).stdout)
    assert shown["deliveries"][0]["status"] == "failed"
    assert shown["deliveries"][0]["attempts"] == service.MAX_ATTEMPTS
    assert {row.state for row in outbox_rows()} == {"done"}


def test_a_timeout_is_retried(app, post, runner, make_run, receiver, monkeypatch):
    monkeypatch.setattr(service, "TIMEOUT_SECONDS", 0.3)
    run = make_run()
    add_endpoint(runner, run.project.organization_id, receiver.url)
    receiver.answer((200, {}, 1.0))  # answers too late
    post(payloads.failed(run.id))
    first = attempts()[0]
    assert (first.outcome, first.status_code, first.error) == ("retry", None, "timeout after 0.3 s")
    make_due()
    outbox.sweep()
    assert deliveries()[0].status == "succeeded"


def test_private_addresses_are_refused_at_send_time(app, post, runner, make_run, receiver):
    run = make_run()
    add_endpoint(runner, run.project.organization_id, receiver.url)
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    post(payloads.failed(run.id))
    assert receiver.requests == []
    delivery = deliveries()[0]
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "blocked: the URL points at a loopback or private address"
