"""The RQ queue that outbox jobs are handed to."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue, Retry

QUEUE_NAME = "webriskops"
JOB_TIMEOUT = 300
FAILURE_TTL = 7 * 24 * 3600


def connection() -> Redis:
    """The app's Redis connection (created on first use, not at import)."""
    redis = current_app.extensions.get("redis")
    if redis is None:
        redis = Redis.from_url(
            current_app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2
        )
        current_app.extensions["redis"] = redis
    return redis


def queue() -> Queue:
    """The queue outbox jobs go to."""
    return Queue(QUEUE_NAME, connection=connection())


def enqueue_outbox_job(outbox_id: int) -> None:
    """Enqueue the runner for one outbox row; the RQ job id makes a second enqueue a no-op."""
    queue().enqueue(
        "webriskops.jobs.runner.run_outbox_job",
        outbox_id,
        job_id=f"outbox-{outbox_id}",
        job_timeout=JOB_TIMEOUT,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=3, interval=[10, 60, 300]),
    )
