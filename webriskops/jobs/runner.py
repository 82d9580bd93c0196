"""Running one outbox job: load it, run its task in the app context, record the outcome."""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_app_context
from sqlalchemy import update

from webriskops.extensions import db
from webriskops.models import OutboxJob
from webriskops.models.base import utcnow

log = logging.getLogger(__name__)
_worker_app: Flask | None = None


def run_outbox_job(outbox_id: int) -> str:
    """Run the task behind outbox row ``outbox_id`` (idempotent: a done job is skipped)."""
    if has_app_context():
        return _run(outbox_id)
    with _app().app_context():
        return _run(outbox_id)


def _app() -> Flask:
    global _worker_app
    if _worker_app is None:
        from webriskops import create_app

        _worker_app = create_app()
    return _worker_app


def _run(outbox_id: int) -> str:
    from webriskops.jobs.tasks import TASKS

    job = db.session.get(OutboxJob, outbox_id)
    if job is None or job.state == "done":
        db.session.rollback()
        return "skipped"
    name, args = job.name, dict(job.args)
    db.session.execute(
        update(OutboxJob).where(OutboxJob.id == outbox_id).values(attempts=OutboxJob.attempts + 1)
    )
    db.session.commit()
    try:
        TASKS[name](**args)
    except Exception as error:
        db.session.rollback()
        db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id == outbox_id)
            .values(last_error=f"{type(error).__name__}: {str(error)[:500]}")
        )
        db.session.commit()
        log.exception("outbox job %s (%s) failed", outbox_id, name)
        if current_app.config.get("REDIS_URL"):
            raise
        return "failed"
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == outbox_id)
        .values(state="done", finished_at=utcnow(), last_error=None)
    )
    db.session.commit()
    log.info("outbox job %s (%s) done", outbox_id, name)
    return "done"
