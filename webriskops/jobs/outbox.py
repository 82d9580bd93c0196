"""The transactional outbox and its hand-over to the queue.

``record`` adds an ``OutboxJob`` row to the current transaction. When that
transaction commits, the new rows become ready and ``dispatch_ready`` hands them to
RQ (or, without ``REDIS_URL``, runs them in-process right away); on rollback they are
forgotten together with the rows. Anything not handed over (Redis down, process
killed between commit and hand-over) stays ``pending`` and ``sweep`` picks it up, as
it picks up retries once their ``available_at`` has come and jobs whose RQ job was
lost (a worker killed mid-job, Redis restarted empty).

A row is marked ``enqueued`` before it is pushed to Redis (and put back to ``pending``
if the push fails), so a runner never finds a row that is still about to be marked.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session

from webriskops.extensions import db
from webriskops.models import OutboxJob
from webriskops.models.base import utcnow

log = logging.getLogger(__name__)

_NEW = "webriskops.outbox.new"
_READY = "webriskops.outbox.ready"
# How many rows one sweep looks at per kind; the next sweep takes the rest.
SWEEP_BATCH = 500
_hooks_installed = False


def record(name: str, *, available_at: datetime | None = None, **args: int | str) -> OutboxJob:
    """Add a job to the current transaction; it runs only if the transaction commits.

    ``args`` are ids and names only (never payloads or secrets). ``available_at`` delays
    the job: it is then left to the sweeper instead of being handed over at commit.
    """
    from webriskops.jobs.tasks import TASKS

    if name not in TASKS:
        raise ValueError(f"unknown job {name!r}")
    job = OutboxJob(name=name, args=args, state="pending", attempts=0)
    due = available_at is None or available_at <= utcnow()
    if available_at is not None:
        job.available_at = available_at
    db.session.add(job)
    db.session.info.setdefault(_NEW, []).append((job, due))
    return job


def install_session_hooks() -> None:
    """Move recorded jobs to "ready" on commit and drop them on rollback (once per process)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        new = session.info.pop(_NEW, None)
        if new:
            # The identity key needs no query, even though commit expired the objects.
            ready = [inspect(job).identity[0] for job, due in new if due]
            session.info.setdefault(_READY, []).extend(ready)

    @event.listens_for(Session, "after_soft_rollback")
    def _after_rollback(session: Session, _previous) -> None:
        session.info.pop(_NEW, None)


def dispatch_ready() -> int:
    """Hand the jobs committed by this session to the queue; returns how many.

    In-process jobs may record follow-up jobs (a ready report sends ``report.ready``),
    so this goes on until nothing new is ready.
    """
    handed = 0
    while ids := db.session.info.pop(_READY, None):
        handed += _hand_over_fresh(ids) if current_app.config.get("REDIS_URL") else _hand_over(ids)
    return handed


def _hand_over_fresh(ids: list[int]) -> int:
    """Mark and enqueue just-committed rows as one batch: one UPDATE, one Redis round trip."""
    from webriskops.database import is_postgresql
    from webriskops.jobs import queue

    if is_postgresql():
        # Bookkeeping only: if this mark is lost in a crash the rows read "pending" and the
        # sweeper hands them over again (RQ job ids keep that single), so the commit need
        # not wait for the WAL flush.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id.in_(ids), OutboxJob.state == "pending")
        .values(state="enqueued", enqueued_at=utcnow())
    )
    db.session.commit()
    try:
        queue.enqueue_fresh(ids)
    except Exception as error:  # noqa: BLE001 - the sweeper hands them over later
        db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id.in_(ids), OutboxJob.state == "enqueued")
            .values(state="pending")
        )
        db.session.commit()
        log.warning(
            "queue unavailable, %d outbox jobs stay pending: %s", len(ids), type(error).__name__
        )
        return 0
    return len(ids)


def sweep() -> int:
    """Hand over every due pending job and re-enqueue jobs the queue lost; returns how many."""
    due = list(
        db.session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.state == "pending", OutboxJob.available_at <= utcnow())
            .order_by(OutboxJob.id)
            .limit(SWEEP_BATCH)
        )
    )
    lost = _lost_jobs() if current_app.config.get("REDIS_URL") else []
    db.session.rollback()
    return _hand_over(due) + _hand_over(lost, replace=True) + dispatch_ready()


def _lost_jobs() -> list[int]:
    """Rows marked ``enqueued`` whose RQ job will never run them.

    That is: Redis has no such job, or it finished or failed without the row being done
    (the runner's last commit failed, or RQ gave up), or it is "started" but no process
    holds the row's run lock (the worker was killed mid-job).
    """
    from webriskops.jobs import queue, runner

    enqueued = list(
        db.session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.state == "enqueued")
            .order_by(OutboxJob.id)
            .limit(SWEEP_BATCH)
        )
    )
    if not enqueued:
        return []
    try:
        statuses = queue.statuses(enqueued)
    except Exception as error:  # noqa: BLE001 - Redis down: nothing to compare with now
        log.warning("queue unavailable, lost jobs not checked: %s", type(error).__name__)
        return []
    lost = []
    for outbox_id, status in statuses.items():
        if status in queue.WAITING:
            continue
        if status == "started" and runner.is_running(outbox_id) is not False:
            continue
        lost.append(outbox_id)
    if not lost:
        return []
    # A job may have finished between the two reads; only rows still enqueued are lost.
    return list(
        db.session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.id.in_(lost), OutboxJob.state == "enqueued")
            .order_by(OutboxJob.id)
        )
    )


def _hand_over(ids: list[int], *, replace: bool = False) -> int:
    from webriskops.jobs import queue, runner

    if not ids:
        return 0
    if not current_app.config.get("REDIS_URL"):
        for job_id in ids:
            runner.run(job_id)
        return len(ids)
    handed = 0
    for job_id in ids:
        marked = db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id == job_id, OutboxJob.state.in_(("pending", "enqueued")))
            .values(state="enqueued", enqueued_at=utcnow())
        ).rowcount
        db.session.commit()
        if not marked:
            continue  # done or given up meanwhile
        try:
            queue.enqueue_outbox_job(job_id, replace=replace)
        except Exception as error:  # noqa: BLE001 - the sweeper retries whatever failed
            db.session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job_id, OutboxJob.state == "enqueued")
                .values(state="pending")
            )
            db.session.commit()
            log.warning(
                "queue unavailable, outbox job %s stays pending: %s", job_id, type(error).__name__
            )
            break
        handed += 1
    return handed
