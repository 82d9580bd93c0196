"""The transactional outbox and its hand-over to the queue.

``record`` adds an ``OutboxJob`` row to the current transaction. When that
transaction commits, the new rows become ready and ``dispatch_ready`` hands them to
RQ (or, without ``REDIS_URL``, runs them in-process right away); on rollback they are
forgotten together with the rows. Anything not handed over (Redis down, process
killed between commit and hand-over) stays ``pending`` and ``sweep`` picks it up.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from webriskops.extensions import db
from webriskops.models import OutboxJob
from webriskops.models.base import utcnow

log = logging.getLogger(__name__)

_NEW = "webriskops.outbox.new"
_READY = "webriskops.outbox.ready"
_hooks_installed = False


def record(name: str, **args: int | str) -> OutboxJob:
    """Add a job to the current transaction; it runs only if the transaction commits."""
    from webriskops.jobs.tasks import TASKS

    if name not in TASKS:
        raise ValueError(f"unknown job {name!r}")
    job = OutboxJob(name=name, args=args, state="pending")
    db.session.add(job)
    db.session.info.setdefault(_NEW, []).append(job)
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
            session.info.setdefault(_READY, []).extend(job.id for job in new)

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
        handed += _hand_over(ids)
    return handed


def sweep(older_than_seconds: int = 0) -> int:
    """Hand over every pending job (and re-enqueue stuck ones); returns how many."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = list(
        db.session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.state == "pending", OutboxJob.created_at <= cutoff)
            .where(OutboxJob.available_at <= utcnow())
            .order_by(OutboxJob.id)
        )
    )
    db.session.rollback()
    return _hand_over(ids)


def _hand_over(ids: list[int]) -> int:
    from webriskops.jobs import queue

    if not ids:
        return 0
    if not current_app.config.get("REDIS_URL"):
        from webriskops.jobs.runner import run_outbox_job

        for job_id in ids:
            run_outbox_job(job_id)
        return len(ids)
    handed = 0
    for job_id in ids:
        try:
            queue.enqueue_outbox_job(job_id)
        except Exception as error:  # noqa: BLE001 - the sweeper retries whatever failed
            log.warning("queue unavailable, outbox job %s stays pending: %s", job_id, error)
            break
        db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id == job_id, OutboxJob.state == "pending")
            .values(state="enqueued", enqueued_at=utcnow())
        )
        db.session.commit()
        handed += 1
    return handed
