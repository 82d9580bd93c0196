"""``flask --app wsgi webhooks …``: add, list, disable and enable endpoints; list deliveries.

Key names are the same everywhere: ``webhookId`` is always an endpoint's id,
``deliveryId`` a delivery's and ``messageId`` the ``webhook-id`` header of a delivery.
"""

from __future__ import annotations

import click
from sqlalchemy import func, select

from webriskops.cli import _get, emit, fail
from webriskops.extensions import db
from webriskops.models import Organization
from webriskops.models.base import isoformat
from webriskops.models.webhooks import WebhookDelivery, WebhookEndpoint
from webriskops.webhooks.service import EndpointRefused, add_endpoint, set_active
from webriskops.webhooks.ssrf import BlockedDestination

webhooks = click.Group("webhooks", help="Webhook endpoints of organizations.")


@webhooks.command("add")
@click.argument("org_id", type=int)
@click.argument("url")
def webhooks_add(org_id: int, url: str) -> None:
    """Add an endpoint; prints its id and signing secret (shown this once only)."""
    organization = _get(Organization, org_id, "organization")
    try:
        endpoint, secret = add_endpoint(organization, url)
    except (BlockedDestination, EndpointRefused) as error:
        fail(f"URL refused: {error}")
    emit({"webhookId": endpoint.id, "secret": secret})


@webhooks.command("list")
@click.argument("org_id", type=int)
def webhooks_list(org_id: int) -> None:
    """An organization's endpoints with their delivery counts (secrets are not shown)."""
    _get(Organization, org_id, "organization")
    counts: dict[int, dict[str, int]] = {}
    rows = db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.organization_id == org_id)
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
    )
    for endpoint_id, status, count in rows:
        counts.setdefault(endpoint_id, {})[status] = count
    endpoints = db.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == org_id)
        .order_by(WebhookEndpoint.id)
    )
    emit(
        {
            "webhooks": [
                {
                    "webhookId": endpoint.id,
                    "url": endpoint.url,
                    "active": endpoint.active,
                    "disabledReason": endpoint.disabled_reason,
                    "deliveries": counts.get(endpoint.id, {}),
                }
                for endpoint in endpoints
            ]
        }
    )


@webhooks.command("deliveries")
@click.argument("webhook_id", type=int)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def webhooks_deliveries(webhook_id: int, limit: int) -> None:
    """The latest deliveries of an endpoint: event, status, attempts, last result."""
    _get(WebhookEndpoint, webhook_id, "webhook")
    deliveries = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    emit(
        {
            "deliveries": [
                {
                    "deliveryId": delivery.id,
                    "messageId": delivery.message_id,
                    "webhookId": delivery.endpoint_id,
                    "event": delivery.event_type,
                    "scanRunId": delivery.scan_run_id,
                    "status": delivery.status,
                    "attempts": delivery.attempts,
                    "lastStatusCode": delivery.last_status_code,
                    "lastError": delivery.last_error,
                    "nextAttemptAt": isoformat(delivery.next_attempt_at),
                    "createdAt": isoformat(delivery.created_at),
                    "finishedAt": isoformat(delivery.finished_at),
                }
                for delivery in deliveries
            ]
        }
    )


def _set_active(webhook_id: int, active: bool) -> None:
    endpoint = _get(WebhookEndpoint, webhook_id, "webhook")
    changed = endpoint.active != active
    if changed:
        set_active(endpoint, active, None if active else "disabled by an operator")
    emit({"webhookId": endpoint.id, "active": endpoint.active, "changed": changed})


@webhooks.command("disable")
@click.argument("webhook_id", type=int)
def webhooks_disable(webhook_id: int) -> None:
    """Stop sending to an endpoint (pending deliveries to it end as failed)."""
    _set_active(webhook_id, False)


@webhooks.command("enable")
@click.argument("webhook_id", type=int)
def webhooks_enable(webhook_id: int) -> None:
    """Send to an endpoint again (also one that a 410 Gone disabled)."""
    _set_active(webhook_id, True)
