"""The jobs that run after a postback commits. Each takes ids, reloads state and is idempotent."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select, update

from webriskops.extensions import db
from webriskops.models import Artifact, Issue, ScanRun
from webriskops.models.base import utcnow
from webriskops.storage import storage

log = logging.getLogger(__name__)


def redact_snapshots(scan_run_id: int) -> None:
    """Redact every stored HTML snapshot of a run in place and record when it was done."""
    redactor = current_app.extensions["redactor"]
    artifacts = db.session.scalars(
        select(Artifact).where(
            Artifact.scan_run_id == scan_run_id,
            Artifact.kind == "html_snapshot",
            Artifact.redacted_at.is_(None),
        )
    ).all()
    store = storage()
    for artifact in artifacts:
        try:
            html = store.get(artifact.storage_key)
        except KeyError:
            log.warning("scan run %s: snapshot %s is missing", scan_run_id, artifact.id)
        else:
            text = html.decode("utf-8", "replace")
            redacted = redactor.redact(text)
            if redacted != text:
                store.put(artifact.storage_key, redacted.encode(), "text/html; charset=utf-8")
        artifact.redacted_at = utcnow()
        db.session.commit()


def collect_artifacts(scan_run_id: int) -> None:
    """Delete objects under ``scan-runs/<id>/`` that the run does not reference.

    A failed run references nothing, so all of its temporary uploads go.
    """
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or not run.is_terminal:
        return
    keep: set[str] = set()
    if run.status == "completed":
        keep.update(
            db.session.scalars(select(Artifact.storage_key).where(Artifact.scan_run_id == run.id))
        )
        keep.update(
            key
            for key in db.session.scalars(
                select(Issue.screenshot_path).where(Issue.scan_run_id == run.id)
            )
            if key
        )
    db.session.rollback()
    store = storage()
    removed = 0
    for key in list(store.list(f"scan-runs/{scan_run_id}/")):
        if key not in keep:
            store.delete(key)
            removed += 1
    log.info("scan run %s: %d unreferenced artifacts removed", scan_run_id, removed)


def generate_report(scan_run_id: int) -> None:
    """Compute the report summary of a completed run and mark it ready."""
    from webriskops.reports.summary import build_summary

    run = db.session.get(ScanRun, scan_run_id)
    if run is None or run.status != "completed" or run.report_status == "ready":
        db.session.rollback()
        return
    try:
        summary = build_summary(run)
    except Exception:
        db.session.rollback()
        db.session.execute(
            update(ScanRun).where(ScanRun.id == scan_run_id).values(report_status="failed")
        )
        db.session.commit()
        raise
    run.report_summary = summary
    run.report_status = "ready"
    run.report_generated_at = utcnow()
    from webriskops.jobs import outbox

    outbox.record("send_webhooks", event="report.ready", scan_run_id=run.id)
    db.session.commit()
    log.info("scan run %s: report ready", scan_run_id)


def automate_failure(scan_run_id: int) -> None:
    """Tell the project's owners that a run failed (logged until SMTP is configured)."""
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or run.status != "failed":
        return
    log.warning(
        "scan run %s of project %s failed with %s; owners notified by log",
        run.id,
        run.project_id,
        run.error_code,
    )


def send_webhooks(event: str, scan_run_id: int) -> None:
    """Deliver ``event`` to the organization's webhook endpoints."""
    log.info("scan run %s: %s (no webhook endpoints configured)", scan_run_id, event)


TASKS: dict[str, Callable[..., None]] = {
    "redact_snapshots": redact_snapshots,
    "collect_artifacts": collect_artifacts,
    "generate_report": generate_report,
    "automate_failure": automate_failure,
    "send_webhooks": send_webhooks,
}
