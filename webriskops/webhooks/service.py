"""Webhook endpoints, event deliveries and the attempts that carry them.

``send_event`` turns one run event into one delivery per active endpoint of the run's
organization and records a ``deliver_webhook`` outbox job for each (same transaction).
``deliver`` makes one attempt: a signed POST to a checked address. A 2xx ends the
delivery as ``succeeded``; ``410 Gone`` disables the endpoint; a timeout, connection
error or any other status schedules the next attempt through the outbox after an
exponential backoff with jitter (at least ``Retry-After``), until ``MAX_ATTEMPTS``.
Nothing here sleeps: waiting is the outbox's ``available_at``.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from flask import current_app
from sqlalchemy import select

from webriskops.extensions import db
from webriskops.models import Organization, Project, ScanRun
from webriskops.models.base import isoformat, utcnow
from webriskops.models.webhooks import (
    WEBHOOK_EVENTS,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from webriskops.webhooks import signing, ssrf

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_FACTOR = 4.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
JITTER = 0.2  # each delay is drawn from ±20 % of its nominal value
RETRY_AFTER_MAX_SECONDS = 24 * 3600.0
TIMEOUT_SECONDS = 10.0
RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "WebRiskOps-Webhooks/1.0"


# --- Endpoints ------------------------------------------------------------------------


def add_endpoint(organization: Organization, url: str) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint with a new signing secret; returns it and the secret (shown once)."""
    ssrf.check_url(url, allow_private=current_app.config.get("WEBHOOKS_ALLOW_PRIVATE", False))
    secret = signing.generate_secret()
    endpoint = WebhookEndpoint(organization_id=organization.id, url=url, secret=secret)
    db.session.add(endpoint)
    db.session.commit()
    log.info("webhook endpoint %s added for organization %s", endpoint.id, organization.id)
    return endpoint, secret


# --- Events -------------------------------------------------------------------------------


def event_payload(event: str, run: ScanRun, organization_id: int) -> dict:
    """The JSON body of an event: ids and summary data only, never evidence."""
    occurred = {"report.ready": run.report_generated_at, "scan_run.queued": run.created_at}.get(
        event, run.finished_at
    )
    return {
        "type": event,
        "timestamp": isoformat(occurred or utcnow()),
        "data": {
            "scanRunId": run.id,
            "projectId": run.project_id,
            "organizationId": organization_id,
            "status": run.status,
            "counters": run.counters(),
            "reportStatus": run.report_status,
            "links": {
                "scanRun": f"/api/scan-runs/{run.id}",
                "report": f"/scan-runs/{run.id}/report",
            },
        },
    }


def send_event(event: str, scan_run_id: int) -> int:
    """Create the deliveries of one event (once per endpoint, however often this runs)."""
    from webriskops.jobs import outbox

    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    run = db.session.get(ScanRun, scan_run_id)
    if run is None:
        db.session.rollback()
        return 0
    organization_id = db.session.execute(
        select(Project.organization_id).where(Project.id == run.project_id)
    ).scalar_one()
    endpoints = db.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.active)
        .order_by(WebhookEndpoint.id)
    ).all()
    already = set(
        db.session.scalars(
            select(WebhookDelivery.endpoint_id).where(
                WebhookDelivery.scan_run_id == run.id, WebhookDelivery.event_type == event
            )
        )
    )
    body = orjson.dumps(event_payload(event, run, organization_id)).decode()
    created = []
    for endpoint in endpoints:
        if endpoint.id in already:
            continue
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id,
            scan_run_id=run.id,
            event_type=event,
            message_id="msg_" + secrets.token_urlsafe(18),
            payload=body,
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
        )
        db.session.add(delivery)
        created.append(delivery)
    db.session.flush()
    for delivery in created:
        outbox.record("deliver_webhook", delivery_id=delivery.id, attempt=1)
    db.session.commit()
    log.info("scan run %s: %s queued for %d endpoint(s)", run.id, event, len(created))
    return len(created)


# --- Attempts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """What one attempt got back: a status code, or an error, and a Retry-After."""

    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    blocked: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential (5 s, 20 s, 80 s, … capped at 6 h) with ±20 % jitter, and never sooner
    than the receiver's ``Retry-After`` (itself capped at a day).
    """
    nominal = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempt - 1))
    delay = nominal * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX_SECONDS))
    return delay


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def post(url: str, secret: str, message_id: str, body: bytes) -> Response:
    """One signed POST to a checked address; never raises for network trouble."""
    allow_private = current_app.config.get("WEBHOOKS_ALLOW_PRIVATE", False)
    try:
        destination = ssrf.resolve(url, allow_private=allow_private)
    except ssrf.BlockedDestination as error:
        return Response(error=f"blocked: {error}", blocked=True)
    except OSError as error:
        return Response(error=f"DNS: {type(error).__name__}: {error}"[:500])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers(secret, message_id, body),
    }
    connection = None
    try:
        connection = destination.connect(TIMEOUT_SECONDS)
        connection.request("POST", destination.target, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(RESPONSE_EXCERPT_BYTES)  # a bounded read; the body is not kept
        return Response(
            status_code=answer.status,
            retry_after=parse_retry_after(answer.getheader("Retry-After")),
        )
    except TimeoutError:
        return Response(error=f"timeout after {TIMEOUT_SECONDS:g} s")
    except (OSError, ValueError, http.client.HTTPException) as error:
        return Response(error=f"{type(error).__name__}: {error}"[:500])
    finally:
        if connection is not None:
            connection.close()


def deliver(delivery_id: int, attempt: int) -> str:
    """Make attempt number ``attempt`` of a delivery; returns the attempt's outcome.

    A stale call (the delivery is finished, or this attempt was already made) does nothing,
    so running the same outbox job twice sends nothing twice.
    """
    from webriskops.jobs import outbox

    delivery = db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None or delivery.status != "pending" or delivery.attempts >= attempt:
        db.session.rollback()
        return "skipped"
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.active:
        _finish(delivery, "failed", error="endpoint disabled")
        db.session.commit()
        return "failed"

    started, clock = utcnow(), time.perf_counter()
    response = post(endpoint.url, endpoint.secret, delivery.message_id, delivery.payload.encode())
    duration_ms = round((time.perf_counter() - clock) * 1000)

    retry_at: datetime | None = None
    if response.ok:
        outcome = "succeeded"
    elif response.status_code == 410:
        outcome = "gone"
        endpoint.active = False
        endpoint.disabled_at = utcnow()
        endpoint.disabled_reason = "410 Gone"
    elif response.blocked or attempt >= MAX_ATTEMPTS:
        outcome = "failed"
    else:
        outcome = "retry"
        retry_at = utcnow() + timedelta(seconds=retry_delay(attempt, response.retry_after))

    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=attempt,
            started_at=started,
            duration_ms=duration_ms,
            status_code=response.status_code,
            error=response.error,
            outcome=outcome,
            retry_at=retry_at,
        )
    )
    delivery.attempts = attempt
    delivery.last_status_code = response.status_code
    delivery.last_error = response.error
    if outcome == "retry":
        delivery.next_attempt_at = retry_at
        outbox.record(
            "deliver_webhook", delivery_id=delivery.id, attempt=attempt + 1, available_at=retry_at
        )
    else:
        _finish(delivery, "succeeded" if outcome == "succeeded" else "failed")
    db.session.commit()
    log.info(
        "webhook delivery %s attempt %d: %s (%s)",
        delivery_id,
        attempt,
        outcome,
        response.status_code or "no response",
    )
    return outcome


def _finish(delivery: WebhookDelivery, status: str, error: str | None = None) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.finished_at = utcnow()
    if error is not None:
        delivery.last_error = error
