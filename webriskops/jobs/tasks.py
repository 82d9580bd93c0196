"""The jobs that run after a postback commits. Each takes ids, reloads state and is idempotent.

- ``finish_scan_run``: the one job a postback records; it records the run's
  after-commit work below as jobs of their own (``FOLLOW_UPS``).
- ``redact_snapshots``: rewrite each stored HTML snapshot of a run with the text
  redaction rules applied, and stamp ``Artifact.redacted_at``.
- ``collect_artifacts``: delete objects under ``scan-runs/<id>/`` that no stored page,
  artifact or issue references (completed runs), or all of them (failed runs).
- ``generate_report``: build the report summary; ``reportStatus`` becomes ``ready``
  and ``report.ready`` webhooks follow.
- ``automate_failure``: tell the project's owners that a run failed (email through
  ``WRO_SMTP_URL``, else a log line), once per owner.
- ``send_webhooks``: one delivery per active endpoint of the run's organization.
- ``deliver_webhook``: one signed attempt of one delivery; retries are new outbox rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select, update

from webriskops.extensions import db
from webriskops.models import Artifact, Issue, Membership, Project, ScanPage, ScanRun, User
from webriskops.models.base import utcnow
from webriskops.models.webhooks import OwnerNotification
from webriskops.storage import canonical_key, storage

log = logging.getLogger(__name__)


# The after-commit work of a finished run, by its status (API.md 3.4 and 3.5).
FOLLOW_UPS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "completed": (
        ("redact_snapshots", {}),
        ("collect_artifacts", {}),
        ("generate_report", {}),
        ("send_webhooks", {"event": "scan_run.completed"}),
    ),
    "failed": (
        ("collect_artifacts", {}),
        ("automate_failure", {}),
        ("send_webhooks", {"event": "scan_run.failed"}),
    ),
}


def finish_scan_run(scan_run_id: int) -> None:
    """Record the after-commit work of a finished run as jobs of their own.

    A postback records only this job, so the web process hands one job to the queue
    instead of four (each RQ job costs as much CPU as a SQL statement or two); the
    work fans out here, in a worker. Nothing is committed here: the runner commits the
    recorded jobs together with this job's "done" mark, so running it again after a
    crash records nothing twice.
    """
    from webriskops.jobs import outbox

    status = db.session.scalar(select(ScanRun.status).where(ScanRun.id == scan_run_id))
    for name, args in FOLLOW_UPS.get(status, ()):
        outbox.record(name, scan_run_id=scan_run_id, **args)


def redact_snapshots(scan_run_id: int) -> None:
    """Redact every stored HTML snapshot of a run in place and record when it was done."""
    redactor = current_app.extensions["redactor"]
    artifacts = db.session.scalars(
        select(Artifact)
        .where(
            Artifact.scan_run_id == scan_run_id,
            Artifact.kind == "html_snapshot",
            Artifact.redacted_at.is_(None),
        )
        .order_by(Artifact.id)
    ).all()
    store = storage()
    for artifact in artifacts:
        try:
            html = store.get(artifact.storage_key)
        except KeyError:
            log.warning("scan run %s: snapshot %s is missing", scan_run_id, artifact.id)
        else:
            text, encoding = _decode(html)
            redacted = redactor.redact(text)
            if redacted != text:
                content_type = "text/html; charset=utf-8" if encoding == "utf-8" else "text/html"
                store.put(artifact.storage_key, redacted.encode(encoding), content_type)
        # One commit per snapshot: a job killed half-way resumes where it stopped.
        artifact.redacted_at = utcnow()
        db.session.commit()


def _decode(data: bytes) -> tuple[str, str]:
    """Text of a snapshot and how to encode it back without changing untouched bytes."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def collect_artifacts(scan_run_id: int) -> None:
    """Delete objects under ``scan-runs/<id>/`` that the run does not reference.

    A failed run references nothing, so all of its temporary uploads go.
    """
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or not run.is_terminal:
        db.session.rollback()
        return
    keep: set[str] = set()
    if run.status == "completed":
        keep.update(
            db.session.scalars(select(Artifact.storage_key).where(Artifact.scan_run_id == run.id))
        )
        for screenshot, snapshot in db.session.execute(
            select(ScanPage.screenshot_path, ScanPage.html_snapshot_path).where(
                ScanPage.scan_run_id == run.id
            )
        ):
            keep.update(key for key in (screenshot, snapshot) if key)
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
    keep = {canonical_key(key) for key in keep}  # one spelling per file
    for key in list(store.list(f"scan-runs/{scan_run_id}/")):
        if canonical_key(key) not in keep:
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


FAILURE_EVENT = "scan_run.failed"


def automate_failure(scan_run_id: int) -> None:
    """Tell each owner of the run's organization that it failed (email, or a log line), once."""
    from webriskops import notifications

    run = db.session.get(ScanRun, scan_run_id)
    if run is None or run.status != "failed":
        db.session.rollback()
        return
    project = db.session.get(Project, run.project_id)
    owners = db.session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == project.organization_id, Membership.role == "owner")
        .order_by(User.id)
    ).all()
    told = set(
        db.session.scalars(
            select(OwnerNotification.user_id).where(
                OwnerNotification.scan_run_id == run.id, OwnerNotification.event == FAILURE_EVENT
            )
        )
    )
    pending = [owner for owner in owners if owner.id not in told]
    smtp_url = current_app.config.get("SMTP_URL")
    if pending and smtp_url:
        message = notifications.failed_run_message(run, project)
        for owner in pending:
            notifications.send_email(smtp_url, owner.email, *message)
            # One row per owner, committed right after the email: a retry skips those told.
            db.session.add(
                OwnerNotification(
                    scan_run_id=run.id, user_id=owner.id, event=FAILURE_EVENT, channel="email"
                )
            )
            db.session.commit()
    elif pending:
        for owner in pending:
            db.session.add(
                OwnerNotification(
                    scan_run_id=run.id, user_id=owner.id, event=FAILURE_EVENT, channel="log"
                )
            )
        db.session.commit()
        log.warning(
            "scan run %s of project %s failed with %s; %d owner(s) notified by log "
            "(set WRO_SMTP_URL to email them)",
            run.id,
            run.project_id,
            run.error_code,
            len(pending),
        )
    db.session.rollback()


def send_webhooks(event: str, scan_run_id: int) -> None:
    """Queue ``event`` for every active webhook endpoint of the run's organization."""
    from webriskops.webhooks.service import send_event

    send_event(event, scan_run_id)


def deliver_webhook(delivery_id: int, attempt: int = 1) -> None:
    """Make one signed attempt of a webhook delivery (the next one is scheduled on failure)."""
    from webriskops.webhooks.service import deliver

    deliver(delivery_id, attempt)


TASKS: dict[str, Callable[..., None]] = {
    "finish_scan_run": finish_scan_run,
    "redact_snapshots": redact_snapshots,
    "collect_artifacts": collect_artifacts,
    "generate_report": generate_report,
    "automate_failure": automate_failure,
    "send_webhooks": send_webhooks,
    "deliver_webhook": deliver_webhook,
}
