"""The report job: compute a completed run's summary once and mark the report ready."""

from __future__ import annotations

import logging

from sqlalchemy import update

from webriskops.extensions import db
from webriskops.jobs.registry import job
from webriskops.models import ScanRun
from webriskops.models.base import utcnow
from webriskops.reports.summary import build_summary
from webriskops.webhooks.service import RunEvents

log = logging.getLogger(__name__)


@job("generate_report")
def generate_report(scan_run_id: int) -> None:
    """Compute the report summary of a completed run and mark it ready.

    The ``report.ready`` deliveries are created in the same transaction as the ready
    mark: a report is never ready without its event, and no extra job is spent on it.
    """
    run = db.session.get(ScanRun, scan_run_id)
    if run is None:
        db.session.rollback()
        return
    try:
        prepare_report(run)
    except Exception:
        db.session.rollback()
        db.session.execute(
            update(ScanRun).where(ScanRun.id == scan_run_id).values(report_status="failed")
        )
        db.session.commit()
        raise
    db.session.commit()


def prepare_report(run: ScanRun, events: RunEvents | None = None) -> None:
    """Set a completed run's report and its ``report.ready`` deliveries, without committing.

    Does nothing for a run that is not completed or whose report is ready already.
    ``events`` are the run's events when the caller sends others too (its endpoints are
    then read once).
    """
    if run.status != "completed" or run.report_status == "ready":
        return
    run.report_summary = build_summary(run)
    run.report_status = "ready"
    run.report_generated_at = utcnow()
    (events or RunEvents(run.id)).add("report.ready")
    log.info("scan run %s: report ready", run.id)
