"""The webhook jobs: create an event's deliveries, and make one attempt of one delivery.

Attempts run on the webhooks queue (``registry.WEBHOOKS_QUEUE``): a receiver may take up to
``service.ATTEMPT_DEADLINE_SECONDS`` to answer, and that wait must never hold up reports.
"""

from __future__ import annotations

from webriskops.jobs.registry import WEBHOOKS_QUEUE, job
from webriskops.webhooks import service

# The deadline of the attempt plus time for the two database commits around it.
DELIVERY_TIMEOUT = int(service.ATTEMPT_DEADLINE_SECONDS) + 45


@job("send_webhooks")
def send_webhooks(event: str, scan_run_id: int) -> None:
    """Queue ``event`` for every active webhook endpoint of the run's organization."""
    service.send_event(event, scan_run_id)


@job("deliver_webhook", queue=WEBHOOKS_QUEUE, timeout=DELIVERY_TIMEOUT)
def deliver_webhook(delivery_id: int, attempt: int = 1) -> None:
    """Make one signed attempt of a webhook delivery (the next one is scheduled on failure)."""
    service.deliver(delivery_id, attempt)
