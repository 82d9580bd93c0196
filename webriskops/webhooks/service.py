"""Webhook endpoints, event deliveries and the attempts that carry them.

``add_event_deliveries`` turns one run event into one delivery per active endpoint of the
run's organization and records a ``deliver_webhook`` outbox job for each, in the caller's
transaction (``send_event`` commits it); ``RunEvents`` does it for several events of one
run, reading the endpoints once. ``deliver`` makes one attempt: a signed POST to a checked
address within ``ATTEMPT_DEADLINE_SECONDS`` of wall-clock time (connect, send and read
together, however slowly the receiver dribbles its answer). The attempt is recorded
(``sending``) and committed before the request goes out, so a worker that dies mid-request
leaves a trace, and the next run of the job records it as ``interrupted`` and schedules
the next attempt with the same ``webhook-id``. A 2xx ends the delivery as ``succeeded``;
``410 Gone`` disables the endpoint; a timeout, connection error or any other status
schedules the next attempt through the outbox after an exponential backoff with jitter
(at least ``Retry-After``), until ``MAX_ATTEMPTS``. Nothing here sleeps: waiting is the
outbox's ``available_at``.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from flask import current_app
from sqlalchemy import and_, bindparam, select

from webriskops.database import durable_commit
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import Organization, Project, ScanRun
from webriskops.models.base import isoformat, utcnow
from webriskops.models.webhooks import (
    WEBHOOK_EVENTS,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from webriskops.vocabulary import parse_retry_after
from webriskops.webhooks import signing, ssrf

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_FACTOR = 4.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
JITTER = 0.2  # each delay is drawn from ±20 % of its nominal value
RETRY_AFTER_MAX_SECONDS = 24 * 3600.0
TIMEOUT_SECONDS = 10.0  # for each connect, send or read on the socket
# Wall-clock limit of one attempt, connect + send + read: a receiver that sends one header
# line every few seconds never trips the per-read timeout, so a timer cuts the socket.
ATTEMPT_DEADLINE_SECONDS = 15.0
INTERRUPTED = "the worker stopped during the attempt"
RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "WebRiskOps-Webhooks/1.0"


# --- Endpoints ------------------------------------------------------------------------


class EndpointRefused(ValueError):
    """An endpoint change that cannot be made (duplicate URL, nothing to redeliver, ...)."""


def add_endpoint(organization: Organization, url: str) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint with a new signing secret; returns it and the secret (shown once).

    Raises ``ssrf.BlockedDestination`` for a URL that may not be called and
    ``EndpointRefused`` when the organization already has an endpoint with this URL.
    """
    url = url.strip()
    ssrf.check_url(url, allow_private=current_app.config.get("WEBHOOKS_ALLOW_PRIVATE", False))
    # The organization's row lock serializes two concurrent adds of the same URL, so the
    # duplicate check cannot be raced (no unique index: existing duplicates stay valid).
    db.session.execute(
        select(Organization.id).where(Organization.id == organization.id).with_for_update()
    )
    duplicate = db.session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.organization_id == organization.id, WebhookEndpoint.url == url
        )
    )
    if duplicate is not None:
        db.session.rollback()
        raise EndpointRefused(f"the organization already has an endpoint {duplicate} with this URL")
    secret = signing.generate_secret()
    endpoint = WebhookEndpoint(organization_id=organization.id, url=url, secret=secret)
    db.session.add(endpoint)
    db.session.commit()
    log.info("webhook endpoint %s added for organization %s", endpoint.id, organization.id)
    return endpoint, secret


def set_active(endpoint: WebhookEndpoint, active: bool, reason: str | None = None) -> None:
    """Enable or disable an endpoint; a disabled one gets no new deliveries or attempts."""
    endpoint.active = active
    endpoint.disabled_at = None if active else utcnow()
    endpoint.disabled_reason = None if active else (reason or "disabled")
    db.session.commit()
    log.info("webhook endpoint %s %s", endpoint.id, "enabled" if active else "disabled")


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Give an endpoint a new signing secret and return it (shown once); the old one stops."""
    secret = signing.generate_secret()
    endpoint.secret = secret
    db.session.commit()
    log.info("webhook endpoint %s: signing secret rotated", endpoint.id)
    return secret


def redeliver(delivery_id: int) -> int:
    """Queue one more attempt of a finished delivery: same message, same ``webhook-id``.

    Returns the attempt number. A delivery still being retried, or one whose endpoint is
    disabled, raises ``EndpointRefused``.
    """
    delivery = db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one()
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if delivery.status == "pending":
        db.session.rollback()
        raise EndpointRefused("this delivery is still being attempted")
    if not endpoint.active:
        db.session.rollback()
        raise EndpointRefused("the endpoint is disabled; enable it first")
    attempt = delivery.attempts + 1
    delivery.status = "pending"
    delivery.finished_at = None
    delivery.next_attempt_at = utcnow()
    outbox.record("deliver_webhook", delivery_id=delivery.id, attempt=attempt)
    db.session.commit()
    outbox.dispatch_ready()
    log.info("webhook delivery %s: redelivery queued as attempt %d", delivery.id, attempt)
    return attempt


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
    """Create the deliveries of one event and commit (once per endpoint, however often)."""
    created = add_event_deliveries(event, scan_run_id)
    db.session.commit()
    return created


def add_event_deliveries(event: str, scan_run_id: int) -> int:
    """Add the deliveries of one event and their outbox jobs to the current transaction.

    Endpoints that already have a delivery of this event for this run are skipped, so
    this is idempotent. Returns how many deliveries were added.
    """
    return RunEvents(scan_run_id).add(event)


# The active endpoints of a run's organization, each with the events it already has for
# the run; built once (per finished run, building it cost more CPU than running it).
_ENDPOINTS_OF_RUN = (
    select(WebhookEndpoint.id, Project.organization_id, WebhookDelivery.event_type)
    .join(Project, Project.organization_id == WebhookEndpoint.organization_id)
    .outerjoin(
        WebhookDelivery,
        and_(
            WebhookDelivery.endpoint_id == WebhookEndpoint.id,
            WebhookDelivery.scan_run_id == bindparam("run_id"),
        ),
    )
    .where(Project.id == bindparam("project_id"), WebhookEndpoint.active)
    .order_by(WebhookEndpoint.id)
)


class RunEvents:
    """The events of one run, its endpoints read once for all of them.

    A completed run sends ``scan_run.completed`` and then, once its report is made,
    ``report.ready``: one query, on first use, reads the organization's active endpoints
    together with the events each already has for the run, and serves every event added
    after it in the same transaction.
    """

    def __init__(self, scan_run_id: int) -> None:
        self.scan_run_id = scan_run_id
        self._organization_id: int | None = None
        self._endpoints: list[int] | None = None
        self._sent: set[tuple[int, str]] = set()  # (endpoint id, event) delivered already

    def add(self, event: str) -> int:
        """Add one event's deliveries and their outbox jobs to the current transaction.

        Endpoints that already have a delivery of this event for this run are skipped,
        so this is idempotent. Returns how many deliveries were added.
        """
        if event not in WEBHOOK_EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        run = db.session.get(ScanRun, self.scan_run_id)
        if run is None:
            return 0
        if self._endpoints is None:
            self._read_endpoints(run)
        if not self._endpoints:  # the common case costs one query for all events
            return 0
        body = orjson.dumps(event_payload(event, run, self._organization_id)).decode()
        created = []
        for endpoint_id in self._endpoints:
            if (endpoint_id, event) in self._sent:
                continue
            delivery = WebhookDelivery(
                endpoint_id=endpoint_id,
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
            self._sent.add((delivery.endpoint_id, event))
        log.info("scan run %s: %s queued for %d endpoint(s)", run.id, event, len(created))
        return len(created)

    def _read_endpoints(self, run: ScanRun) -> None:
        rows = db.session.execute(
            _ENDPOINTS_OF_RUN, {"run_id": run.id, "project_id": run.project_id}
        ).all()
        # One row per endpoint and delivery it has for the run (one without any).
        self._endpoints = list(dict.fromkeys(endpoint_id for endpoint_id, _, _ in rows))
        self._organization_id = rows[0].organization_id if rows else None
        self._sent = {(endpoint_id, event) for endpoint_id, _, event in rows if event}


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


def post(url: str, secret: str, message_id: str, body: bytes) -> Response:
    """One signed POST to a checked address within the attempt deadline; never raises."""
    deadline = time.monotonic() + ATTEMPT_DEADLINE_SECONDS
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
    watchdog = None
    try:
        remaining = deadline - time.monotonic()
        connection = destination.connect(max(0.01, min(TIMEOUT_SECONDS, remaining)))
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        connection.request("POST", destination.target, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(RESPONSE_EXCERPT_BYTES)  # a bounded read; the body is not kept
        if time.monotonic() >= deadline:
            return _deadline_passed()
        return Response(
            status_code=answer.status,
            retry_after=parse_retry_after(answer.getheader("Retry-After")),
        )
    except TimeoutError:
        if time.monotonic() >= deadline:
            return _deadline_passed()
        return Response(error=f"timeout after {TIMEOUT_SECONDS:g} s")
    except (OSError, ValueError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline:
            return _deadline_passed()  # the watchdog cut the socket
        return Response(error=f"{type(error).__name__}: {error}"[:500])
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if connection is not None:
            connection.close()


def _deadline_passed() -> Response:
    return Response(error=f"timeout: no complete answer within {ATTEMPT_DEADLINE_SECONDS:g} s")


def _cut(connection: http.client.HTTPConnection) -> None:
    """End a connection that ran past the deadline; the blocked read returns at once."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def deliver(delivery_id: int, attempt: int) -> str:
    """Make attempt number ``attempt`` of a delivery; returns the attempt's outcome.

    A stale call (the delivery is finished, or this attempt was already made) does nothing,
    so running the same outbox job twice sends nothing twice. An attempt found ``sending``
    was cut short by a dying worker: it is recorded as ``interrupted`` and the next one is
    scheduled (the receiver may or may not have got it; the ``webhook-id`` is the same).
    """
    delivery = db.session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None or delivery.status != "pending" or delivery.attempts > attempt:
        db.session.rollback()
        return "skipped"
    if delivery.attempts == attempt:
        record = db.session.scalar(
            select(WebhookAttempt).where(
                WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.number == attempt
            )
        )
        if record is None or record.outcome != "sending":
            db.session.rollback()
            return "skipped"
        record.error = INTERRUPTED
        return _settle(delivery, record, Response(error=INTERRUPTED), "interrupted")
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.active:
        _finish(delivery, "failed", error="endpoint disabled")
        db.session.commit()
        return "failed"

    # Recorded and committed before the request goes out: a crash leaves this trace.
    record = WebhookAttempt(
        delivery_id=delivery.id, number=attempt, started_at=utcnow(), outcome="sending"
    )
    db.session.add(record)
    delivery.attempts = attempt
    url, secret, message_id, payload = (
        endpoint.url,
        endpoint.secret,
        delivery.message_id,
        delivery.payload.encode(),
    )
    durable_commit()  # on disk before the request goes out

    clock = time.perf_counter()
    response = post(url, secret, message_id, payload)
    record.duration_ms = round((time.perf_counter() - clock) * 1000)
    record.status_code = response.status_code
    record.error = response.error
    if response.status_code == 410:
        endpoint.active = False
        endpoint.disabled_at = utcnow()
        endpoint.disabled_reason = "410 Gone"
        return _settle(delivery, record, response, "gone")
    return _settle(delivery, record, response, "succeeded" if response.ok else None)


def _settle(
    delivery: WebhookDelivery, record: WebhookAttempt, response: Response, outcome: str | None
) -> str:
    """Record what came of an attempt and schedule the next one if there is to be one."""
    attempt = record.number
    retry_at: datetime | None = None
    if outcome is None or outcome == "interrupted":
        if response.blocked or attempt >= MAX_ATTEMPTS:
            outcome = "failed"
        else:
            outcome = outcome or "retry"
            retry_at = utcnow() + timedelta(seconds=retry_delay(attempt, response.retry_after))
    record.outcome = outcome
    record.retry_at = retry_at
    delivery.last_status_code = response.status_code
    delivery.last_error = response.error
    if retry_at is not None:
        delivery.next_attempt_at = retry_at
        outbox.record(
            "deliver_webhook", delivery_id=delivery.id, attempt=attempt + 1, available_at=retry_at
        )
    else:
        _finish(delivery, "succeeded" if outcome == "succeeded" else "failed")
    db.session.commit()
    log.info(
        "webhook delivery %s attempt %d: %s (%s)",
        delivery.id,
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
