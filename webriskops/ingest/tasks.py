"""The work after a run finishes: one job for the whole run, split only where it fails.

- ``finish_scan_run``: the one job a postback records. It runs the run's follow-up steps
  (``FOLLOW_UPS``) one after the other in the same job; a step that raises is recorded
  as an outbox job of its own (retried with backoff by itself) and the others go on.
  Every step is idempotent, so a crash half-way simply runs the job again.
- ``redact_snapshots``: rewrite each stored HTML snapshot of a run with the text
  redaction rules applied, and stamp ``Artifact.redacted_at``.
- ``collect_artifacts``: delete objects under ``scan-runs/<id>/`` that no stored page,
  artifact or issue references (completed runs), or all of them (failed runs).
- ``automate_failure``: tell the project's owners that a run failed (email through
  ``WRO_SMTP_URL``, else a log line), at most once per owner.

Artifact work lists the run's prefix once and touches only objects that exist, with at
most ``STORAGE_CONCURRENCY`` storage calls in flight. Snapshots are streamed: read,
redacted and written back a piece at a time, whatever their size.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import current_app
from sqlalchemy import CompoundSelect, bindparam, select, union_all, update

from webriskops import notifications
from webriskops.database import durable_commit
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.jobs.registry import job
from webriskops.models import Artifact, Issue, Membership, Project, ScanPage, ScanRun, User
from webriskops.models.base import utcnow
from webriskops.models.webhooks import OwnerNotification
from webriskops.redaction import Redactor
from webriskops.redaction.stream import redact_pieces
from webriskops.reports.tasks import prepare_report
from webriskops.storage import ObjectStorage, canonical_key, storage
from webriskops.webhooks.service import RunEvents, add_event_deliveries

log = logging.getLogger(__name__)

STORAGE_CONCURRENCY = 8
SPOOL_BYTES = 8 << 20  # a redacted snapshot up to this size is kept in memory, not on disk
STAMP_BATCH = 100  # snapshots stamped per commit: a job killed half-way resumes near there
# A step split off after failing inside ``finish_scan_run`` waits this long before its retry.
SPLIT_RETRY_DELAY = timedelta(seconds=30)
FAILURE_EVENT = "scan_run.failed"


def run_prefix(scan_run_id: int) -> str:
    """Where a run's uploads live in storage."""
    return f"scan-runs/{scan_run_id}/"


# --- The run's steps ------------------------------------------------------------------------


@job("redact_snapshots")
def redact_snapshots(scan_run_id: int) -> None:
    """Redact every stored HTML snapshot of a run in place and record when it was done."""
    _redact(scan_run_id, set(storage().list(run_prefix(scan_run_id))))


def _redact(scan_run_id: int, present: set[str]) -> None:
    if not present:  # nothing uploaded: every snapshot is missing, one statement stamps them
        stamped = db.session.execute(
            _STAMP_UNREDACTED, {"run_id": scan_run_id, "now": utcnow()}
        ).rowcount  # committed with the job's "done" mark
        if stamped:
            log.warning("scan run %s: %d snapshot(s) missing in storage", scan_run_id, stamped)
        return
    redactor: Redactor = current_app.extensions["redactor"]
    store = storage()
    with ThreadPoolExecutor(STORAGE_CONCURRENCY, thread_name_prefix="redact") as pool:
        while True:
            batch = _stamp_batch(scan_run_id)
            stored = [key for key in batch if key in present]
            if len(stored) < len(batch):
                missing = len(batch) - len(stored)
                log.warning("scan run %s: %d snapshot(s) missing in storage", scan_run_id, missing)
            # Waits for every one; an error is raised here and the stamps are rolled back.
            list(pool.map(lambda key: _redact_object(store, redactor, key), stored))
            if len(batch) < STAMP_BATCH:
                return  # the last batch is committed with the job's "done" mark
            db.session.commit()  # more to come: a job killed from here on keeps these


# The stamps are built once, on the table (not the mapped class, whose ORM update steps
# do nothing for rows the session never loads): built per run, the statement cost more
# CPU than running it. ``run_id``, ``now`` and the batch size are bound at each use.
_ARTIFACTS = Artifact.__table__
# The conditions of a run's snapshots not redacted yet.
_UNREDACTED = (
    _ARTIFACTS.c.scan_run_id == bindparam("run_id"),
    _ARTIFACTS.c.kind == "html_snapshot",
    _ARTIFACTS.c.redacted_at.is_(None),
)
_STAMP_UNREDACTED = update(_ARTIFACTS).where(*_UNREDACTED).values(redacted_at=bindparam("now"))
_STAMP_BATCH = (
    update(_ARTIFACTS)
    # ``_UNREDACTED`` again: a row another job stamped meanwhile is checked anew, and left.
    .where(
        _ARTIFACTS.c.id.in_(
            select(_ARTIFACTS.c.id)
            .where(*_UNREDACTED)
            .order_by(_ARTIFACTS.c.id)
            .limit(bindparam("batch"))
            .scalar_subquery()
        ),
        *_UNREDACTED,
    )
    .values(redacted_at=bindparam("now"))
    .returning(_ARTIFACTS.c.storage_key)
)


def _stamp_batch(scan_run_id: int) -> list[str]:
    """Stamp up to ``STAMP_BATCH`` unredacted snapshots of a run; returns their keys.

    The stamps are written before the objects are rewritten, in a transaction that
    commits only once they are: a stamp anyone else can see means a redacted snapshot,
    and the SELECT of what is pending and the UPDATE stamping it are one statement.
    """
    parameters = {"run_id": scan_run_id, "now": utcnow(), "batch": STAMP_BATCH}
    return list(db.session.scalars(_STAMP_BATCH, parameters))


def _redact_object(store: ObjectStorage, redactor: Redactor, key: str) -> None:
    """Rewrite one snapshot if redaction changes it.

    The object is streamed: read a chunk at a time and redacted a piece at a time
    (``redaction.stream``), the result spooled to a temporary file (in memory up to
    ``SPOOL_BYTES``) and uploaded from there only if a piece changed.
    """
    changed, utf8 = False, True
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as out:
        try:
            for piece, redacted in redact_pieces(
                lambda piece: _redact_piece(redactor, piece), store.chunks(key)
            ):
                changed = changed or redacted != piece
                utf8 = utf8 and _is_utf8(piece)
                out.write(redacted)
        except KeyError:  # deleted since the listing
            return
        if changed:
            length = out.tell()
            out.seek(0)
            content_type = "text/html; charset=utf-8" if utf8 else "text/html"
            store.put_file(key, out, length, content_type)


def _redact_piece(redactor: Redactor, piece: bytes) -> bytes:
    """A piece redacted as UTF-8, or as Latin-1 (every byte a character) when it is not."""
    if _is_utf8(piece):
        return redactor.redact_bytes(piece)
    return redactor.redact(piece.decode("latin-1")).encode("latin-1")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@job("collect_artifacts")
def collect_artifacts(scan_run_id: int) -> None:
    """Delete objects under ``scan-runs/<id>/`` that the run does not reference.

    A failed run references nothing, so all of its temporary uploads go.
    """
    _collect(scan_run_id, set(storage().list(run_prefix(scan_run_id))))


def _collect(scan_run_id: int, present: set[str]) -> None:
    if not present:  # nothing uploaded: nothing to compare, no query needed
        return
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or not run.is_terminal:
        return
    keep: set[str] = set()
    if run.status == "completed":
        keep.update(key for key in db.session.scalars(_referenced_keys(run.id)) if key)
    keep = {canonical_key(key) for key in keep}  # one spelling per file
    unreferenced = sorted(key for key in present if canonical_key(key) not in keep)
    if unreferenced:
        storage().delete_many(unreferenced)
    log.info("scan run %s: %d unreferenced artifacts removed", scan_run_id, len(unreferenced))


def _referenced_keys(scan_run_id: int) -> CompoundSelect:
    """Every storage key the run's artifacts, pages and issues name (nulls too), in one query."""
    return union_all(
        select(Artifact.storage_key).where(Artifact.scan_run_id == scan_run_id),
        select(ScanPage.screenshot_path).where(ScanPage.scan_run_id == scan_run_id),
        select(ScanPage.html_snapshot_path).where(ScanPage.scan_run_id == scan_run_id),
        select(Issue.screenshot_path).where(Issue.scan_run_id == scan_run_id),
    )


@job("automate_failure")
def automate_failure(scan_run_id: int) -> None:
    """Tell each owner of the run's organization that it failed (email, or a log line), once.

    Each owner's notification is committed before the email goes out, so a worker killed
    mid-SMTP never sends a second email (at most once); an email the SMTP server refused
    gives the row back, so the retry sends it. The ``Message-ID`` is the same on every
    try, so a mail system that got one twice can tell.
    """
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or run.status != "failed":
        return
    project = db.session.get(Project, run.project_id)
    owners = db.session.execute(
        select(User.id, User.email)
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
    pending = [(user_id, email) for user_id, email in owners if user_id not in told]
    if not pending:
        return
    smtp_url = current_app.config.get("SMTP_URL")
    channel = "email" if smtp_url else "log"
    # Read before the commits below expire the run.
    run_id, project_id, error_code = run.id, run.project_id, run.error_code
    subject, body = notifications.failed_run_message(run, project)
    for user_id, email in pending:
        notification = OwnerNotification(
            scan_run_id=run_id, user_id=user_id, event=FAILURE_EVENT, channel=channel
        )
        db.session.add(notification)
        durable_commit()  # on disk before the email goes out
        if channel == "log":
            continue
        message_id = notifications.message_id(smtp_url, run_id, FAILURE_EVENT, user_id)
        try:
            notifications.send_email(smtp_url, email, subject, body, message_id=message_id)
        except Exception:
            db.session.delete(notification)  # refused: the retry may send it
            db.session.commit()
            raise
    if channel == "log":
        log.warning(
            "scan run %s of project %s failed with %s; %d owner(s) notified by log "
            "(set WRO_SMTP_URL to email them)",
            run_id,
            project_id,
            error_code,
            len(pending),
        )


# --- The one job a postback records ---------------------------------------------------------


Step = tuple[str, dict, Callable[[], object]]


def _completed_steps(run: ScanRun, present: set[str]) -> list[Step]:
    run_id = run.id
    events = RunEvents(run_id)  # both events of the run, one read of the endpoints
    return [
        ("send_webhooks", {"event": "scan_run.completed"},
         lambda: events.add("scan_run.completed")),
        ("generate_report", {}, lambda: prepare_report(run, events)),
        ("redact_snapshots", {}, lambda: _redact(run_id, present)),
        ("collect_artifacts", {}, lambda: _collect(run_id, present)),
    ]  # fmt: skip


def _failed_steps(run: ScanRun, present: set[str]) -> list[Step]:
    run_id = run.id
    return [
        ("send_webhooks", {"event": "scan_run.failed"},
         lambda: add_event_deliveries("scan_run.failed", run_id)),
        ("collect_artifacts", {}, lambda: _collect(run_id, present)),
        ("automate_failure", {}, lambda: automate_failure(run_id)),
    ]  # fmt: skip


# The after-commit work of a finished run, by its status (API.md 3.4 and 3.5): the events
# first, then the report customers wait for, then the storage housekeeping. Steps leave
# their writes in the session (the runner commits them with the job's "done" mark); a
# step may commit sooner (redaction keeps each batch of a run with more than
# ``STAMP_BATCH`` snapshots, emails are recorded first).
FOLLOW_UPS = {"completed": _completed_steps, "failed": _failed_steps}


@job("finish_scan_run")
def finish_scan_run(scan_run_id: int) -> None:
    """Run the after-commit work of a finished run, all of it in this one job.

    First all steps in one transaction, committed with the job's "done" mark: a run's
    work then costs one commit. If a step raises, that is rolled back and each step runs
    again on its own (they are idempotent), committed one by one; a step that raises
    again is handed to the outbox as a job of its own (its first attempt counted, due
    after ``SPLIT_RETRY_DELAY``) and the other steps still run.
    """
    run = db.session.get(ScanRun, scan_run_id)
    if run is None or run.status not in FOLLOW_UPS:
        return
    present = set(storage().list(run_prefix(scan_run_id)))
    try:
        for _name, _args, step in FOLLOW_UPS[run.status](run, present):
            step()
        # A write a step left pending fails here, where the steps are retried one by one,
        # not at the runner's commit (the stamps and the done mark do not flush the session).
        db.session.flush()
        return
    except Exception:  # noqa: BLE001 - the steps run one by one below
        db.session.rollback()
    run = db.session.get(ScanRun, scan_run_id)
    for name, args, step in FOLLOW_UPS[run.status](run, present):
        try:
            step()
            db.session.commit()
        except Exception as error:  # noqa: BLE001 - the step is retried as a job of its own
            db.session.rollback()
            log.warning(
                "scan run %s: %s failed (%s), retried as a job of its own",
                scan_run_id,
                name,
                type(error).__name__,
            )
            outbox.record(
                name,
                scan_run_id=scan_run_id,
                available_at=utcnow() + SPLIT_RETRY_DELAY,
                attempts_made=1,
                last_error=f"{type(error).__name__}: {str(error)[:500]}",
                **args,
            )
            db.session.commit()
            run = db.session.get(ScanRun, scan_run_id)
