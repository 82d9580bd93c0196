"""The RQ queue that outbox jobs are handed to.

One outbox row is handed over as one RQ job with id ``outbox-<id>`` on its task's queue:
handing the same row over twice leaves one job in Redis, and the sweeper can ask Redis
what became of a row's job. A worker that runs one of these jobs takes further waiting
ones of the same queue into the same RQ job (``take_waiting``), so a backlog costs one
RQ round trip per batch, not per row.
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

from webriskops.jobs.registry import DEFAULT_QUEUE, DEFAULT_TIMEOUT, QUEUES
from webriskops.redis_client import redis_client
from webriskops.vocabulary import FAILURE_TTL, RESULT_TTL

QUEUE_NAME = DEFAULT_QUEUE
RUNNER = "webriskops.jobs.worker.run_outbox_job"
# How long one RQ job (a batch) may run: the batch stops taking rows after
# ``BATCH_SECONDS``, and each row has its own, shorter, limit.
BATCH_SECONDS = 30
BATCH_JOB_TIMEOUT = BATCH_SECONDS + DEFAULT_TIMEOUT + 60
# An RQ job in one of these states will still run (or is running) by itself.
WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


# Pops up to ARGV[1] job ids off a queue's list and deletes their job hashes in one step,
# so a popped job is either run by the popping worker or, if that worker dies, missing
# from Redis altogether: the sweeper hands missing jobs over again. Ids that are not
# outbox jobs go back to the head of the list.
_TAKE_WAITING = """
local ids = redis.call('LPOP', KEYS[1], ARGV[1])
if not ids then return {} end
local taken, others = {}, {}
for _, id in ipairs(ids) do
  if string.sub(id, 1, 7) == 'outbox-' then
    redis.call('DEL', ARGV[2] .. id)
    table.insert(taken, id)
  else
    table.insert(others, id)
  end
end
for i = #others, 1, -1 do redis.call('LPUSH', KEYS[1], others[i]) end
return taken
"""


def connection() -> Redis:
    """The app's one Redis client (``webriskops.redis_client``)."""
    redis = redis_client(current_app)
    if redis is None:
        raise RuntimeError("REDIS_URL is not set")
    return redis


def queue(name: str = QUEUE_NAME) -> Queue:
    """The RQ queue ``name`` (a task's queue, see ``registry``)."""
    return Queue(name, connection=connection())


def depths() -> dict[str, int]:
    """How many RQ jobs wait on each queue, in one round trip."""
    with connection().pipeline(transaction=False) as pipe:
        for name in QUEUES:
            pipe.llen(queue(name).key)
        return dict(zip(QUEUES, pipe.execute(), strict=True))


def take_waiting(queue_name: str, count: int) -> list[int]:
    """Take up to ``count`` waiting outbox jobs off a queue for the caller to run now."""
    if count <= 0:
        return []
    target = queue(queue_name)
    taken = target.connection.eval(
        _TAKE_WAITING, 1, target.key, count, Job.redis_job_namespace_prefix
    )
    return [int(job_id.decode().removeprefix("outbox-")) for job_id in taken]


def rq_job_id(outbox_id: int) -> str:
    """The RQ job id of an outbox row."""
    return f"outbox-{outbox_id}"


def enqueue_fresh(rows: list[tuple[int, str]]) -> None:
    """Enqueue newly committed outbox rows ``(id, queue name)`` in one Redis round trip.

    Fresh rows have never been handed over, so no RQ job of theirs can exist yet and
    the duplicate checks of ``enqueue_outbox_job`` are not needed.
    """
    by_queue: dict[str, list[int]] = {}
    for outbox_id, queue_name in rows:
        by_queue.setdefault(queue_name, []).append(outbox_id)
    with connection().pipeline() as pipe:
        for queue_name, outbox_ids in by_queue.items():
            queue(queue_name).enqueue_many(
                [
                    Queue.prepare_data(
                        RUNNER,
                        args=(outbox_id,),
                        job_id=rq_job_id(outbox_id),
                        timeout=BATCH_JOB_TIMEOUT,
                        result_ttl=RESULT_TTL,
                        failure_ttl=FAILURE_TTL,
                        description=f"outbox job {outbox_id}",
                    )
                    for outbox_id in outbox_ids
                ],
                pipeline=pipe,
            )
        pipe.execute()


def enqueue_outbox_job(
    outbox_id: int, queue_name: str = QUEUE_NAME, *, replace: bool = False
) -> None:
    """Enqueue the runner for one outbox row.

    A job that is already waiting or running is left alone; one that finished, failed or
    (with ``replace``, when the sweeper found its worker dead) is stuck is replaced.
    """
    target = queue(queue_name)
    job_id = rq_job_id(outbox_id)
    options = {
        "job_id": job_id,
        "job_timeout": BATCH_JOB_TIMEOUT,
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
