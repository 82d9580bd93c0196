"""The RQ queue that outbox jobs are handed to.

One outbox row is one RQ job with id ``outbox-<id>``: handing the same row over twice
leaves one job in Redis, and the sweeper can ask Redis what became of a row's job.
RQ's own retries are off on purpose: failures are retried through the outbox
(``available_at``), which survives a Redis outage and works the same without Redis.
"""

from __future__ import annotations

import contextlib

from flask import current_app
from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from webriskops.redis_client import redis_client
from webriskops.vocabulary import FAILURE_TTL, JOB_TIMEOUT, RESULT_TTL

QUEUE_NAME = "webriskops"
RUNNER = "webriskops.jobs.runner.run_outbox_job"
# An RQ job in one of these states will still run (or is running) by itself.
WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


def connection() -> Redis:
    """The app's one Redis client (``webriskops.redis_client``)."""
    redis = redis_client(current_app)
    if redis is None:
        raise RuntimeError("REDIS_URL is not set")
    return redis


def queue() -> Queue:
    """The queue outbox jobs go to."""
    return Queue(QUEUE_NAME, connection=connection())


def rq_job_id(outbox_id: int) -> str:
    """The RQ job id of an outbox row."""
    return f"outbox-{outbox_id}"


def enqueue_fresh(outbox_ids: list[int]) -> None:
    """Enqueue newly committed outbox rows in one Redis round trip.

    Fresh rows have never been handed over, so no RQ job of theirs can exist yet and
    the duplicate checks of ``enqueue_outbox_job`` are not needed.
    """
    target = queue()
    target.enqueue_many(
        [
            Queue.prepare_data(
                RUNNER,
                args=(outbox_id,),
                job_id=rq_job_id(outbox_id),
                timeout=JOB_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                description=f"outbox job {outbox_id}",
            )
            for outbox_id in outbox_ids
        ]
    )


def enqueue_outbox_job(outbox_id: int, *, replace: bool = False) -> None:
    """Enqueue the runner for one outbox row.

    A job that is already waiting or running is left alone; one that finished, failed or
    (with ``replace``, when the sweeper found its worker dead) is stuck is replaced.
    """
    target = queue()
    job_id = rq_job_id(outbox_id)
    options = {
        "job_id": job_id,
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "retry": None,
        "unique": True,
        "description": f"outbox job {outbox_id}",
    }
    try:
        target.enqueue(RUNNER, outbox_id, **options)
        return
    except DuplicateJobError:
        pass
    try:
        existing = Job.fetch(job_id, connection=target.connection)
    except NoSuchJobError:
        existing = None
    if existing is not None:
        status = existing.get_status()
        if status in WAITING or (status == JobStatus.STARTED and not replace):
            return
        existing.delete()
    with contextlib.suppress(DuplicateJobError):  # handed over by another process meanwhile
        target.enqueue(RUNNER, outbox_id, **options)


def statuses(outbox_ids: list[int]) -> dict[int, JobStatus | None]:
    """The RQ status of each row's job (None: Redis has no such job), in one round trip."""
    jobs = Job.fetch_many([rq_job_id(i) for i in outbox_ids], connection=connection())
    return {
        outbox_id: (job.get_status(refresh=False) if job is not None else None)
        for outbox_id, job in zip(outbox_ids, jobs, strict=True)
    }
