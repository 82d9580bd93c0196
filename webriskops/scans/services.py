"""The life of a scan run: create, claim, heartbeat, requeue, time out, cancel, fail.

``create_scan_run`` reserves a credit and sends ``scan_run.queued``. Scanners pull
work: ``claim_runs`` hands out the oldest queued runs with a lease, each exactly once
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, the database-wide write lock on
SQLite), and ``extend_lease`` keeps a lease alive. ``sweep_runs`` requeues runs whose
lease expired and fails the ones out of attempts or past their deadline
(``SCAN_TIMEOUT``); ``cancel_run`` fails a run for the customer (``CANCELLED``).

Every failure, a scanner's failed postback included, goes through ``failure_changes``:
the credit is restored (the ledger's unique ``settles_run_id`` makes that once, whoever
races), and ``finish_scan_run`` is recorded, which fans out into artifact clean-up,
owner notices and the ``scan_run.failed`` webhooks after commit. Nothing here knows
HTTP; the domain errors below are turned into answers by the routes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update

from webriskops.database import begin_write, is_postgresql
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.jobs.registry import sweep_step
from webriskops.models import Project, ScanRun, reserve_credit, settle_credit
from webriskops.models.base import as_utc, isoformat, utcnow
from webriskops.models.webhooks import WebhookEndpoint
from webriskops.vocabulary import is_row_id

log = logging.getLogger(__name__)

# How many overdue runs one sweep settles; the next sweep takes the rest.
SWEEP_BATCH = 200


class RunNotFound(Exception):
    """No scan run has this id."""


class LeaseLost(Exception):
    """The run is no longer held by the lease a scanner asks about (requeued or finished)."""


class RunTerminal(Exception):
    """The run is completed or failed already; nothing may change it."""


# --- Creating runs ----------------------------------------------------------------------


def create_scan_run(project: Project) -> ScanRun:
    """Create a queued run, reserve one credit (raises InsufficientCredits); commits.

    The ``scan_run.queued`` webhook goes out after the commit, for runtimes that prefer
    to be pushed, when the organization has an active endpoint at that moment (without
    one there is nobody to tell, and no job is recorded).
    """
    run = ScanRun(project_id=project.id, status="queued", credit_state="reserved", attempt=1)
    db.session.add(run)
    db.session.flush()
    try:
        reserve_credit(project.organization_id, run.id)
    except Exception:
        db.session.rollback()
        raise
    if _has_active_endpoint(project.organization_id):
        outbox.record("send_webhooks", event="scan_run.queued", scan_run_id=run.id)
    db.session.commit()
    log.info("scan run %s queued for project %s", run.id, project.id)
    return run


def _has_active_endpoint(organization_id: int) -> bool:
    found = db.session.execute(
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.active)
        .limit(1)
    ).first()
    return found is not None


def deadline_at(created_at: datetime) -> datetime:
    """When a run created at ``created_at`` fails with SCAN_TIMEOUT if still not finished."""
    return as_utc(created_at) + timedelta(seconds=current_app.config["SCAN_DEADLINE_SECONDS"])


def dispatch_json(run: ScanRun) -> dict[str, Any]:
    """The dispatch fields of a run for the read API: attempt, lease and deadline."""
    return {
        "attempt": run.attempt,
        "leaseExpiresAt": isoformat(run.lease_expires_at) if run.status == "running" else None,
        "deadlineAt": isoformat(deadline_at(run.created_at)),
    }


# --- Reading and locking runs with table statements ---------------------------------------

_RUNS = ScanRun.__table__
_PROJECTS = Project.__table__
_READ = select(
    _RUNS.c.id,
    _RUNS.c.status,
    _RUNS.c.attempt,
    _RUNS.c.lease_seconds,
    _RUNS.c.lease_expires_at,
    _RUNS.c.created_at,
    _RUNS.c.started_at,
    _RUNS.c.project_id,
    _PROJECTS.c.organization_id,
    _PROJECTS.c.base_url,
).join(_PROJECTS, _PROJECTS.c.id == _RUNS.c.project_id)
_UPDATE = update(_RUNS).where(_RUNS.c.id == bindparam("run_id"))


def _lock_run(run_id: int) -> Mapping[str, Any] | None:
    """The run, locked for this transaction (SQLite: ``begin_write`` holds the lock)."""
    if not is_row_id(run_id):
        return None
    begin_write()
    query = _READ.where(_RUNS.c.id == run_id)
    if is_postgresql():
        query = query.with_for_update(of=_RUNS)
    return db.session.connection().execute(query).mappings().one_or_none()


def _update_run(run_id: int, changes: dict[str, Any]) -> None:
    db.session.connection().execute(_UPDATE, {**changes, "run_id": run_id})


# --- The one failure path -----------------------------------------------------------------


def failure_changes(
    run: Mapping[str, Any], error: Mapping[str, Any], *, reported_by_scanner: bool
) -> dict[str, Any]:
    """Fail a locked run: restore its credit, record its after-commit work, redact the error.

    Returns the run's new column values for the caller to write in the same
    transaction. A scanner's failed postback, a timeout and a cancel all come here. A
    run a scanner reports on counts as started then at the latest; a run that times out
    or is cancelled before any claim keeps no ``started_at``.
    """
    redact = current_app.extensions["redactor"]
    now = utcnow()
    settle_credit(run["organization_id"], run["id"], consumed=False)
    outbox.record("finish_scan_run", scan_run_id=run["id"])
    return {
        "status": "failed",
        "credit_state": "restored",
        "error_code": error["code"],
        "error_message": redact.redact(error["message"]),
        "error_url": redact.redact_url(error["url"]) if error.get("url") else None,
        "error_timeout_ms": error.get("timeoutMs"),
        "started_at": run["started_at"] or (now if reported_by_scanner else None),
        "finished_at": now,
        "lease_expires_at": None,
    }


# --- Claims and leases --------------------------------------------------------------------


def claim_runs(max_runs: int, lease_seconds: int) -> list[dict[str, Any]]:
    """Hand the oldest queued runs (at most ``max_runs``) to the calling scanner; commits.

    Each becomes ``running`` with ``started_at`` = now and a lease of ``lease_seconds``.
    On PostgreSQL the queued rows are locked with ``SKIP LOCKED``: concurrent claimers
    take different runs instead of waiting for each other. A run past its deadline is
    left for the sweep to fail.
    """
    now = utcnow()
    begin_write()
    connection = db.session.connection()
    oldest = (
        select(_RUNS.c.id)
        .where(
            _RUNS.c.status == "queued",
            _RUNS.c.created_at
            > now - timedelta(seconds=current_app.config["SCAN_DEADLINE_SECONDS"]),
        )
        .order_by(_RUNS.c.id)
        .limit(max_runs)
    )
    if is_postgresql():
        oldest = oldest.with_for_update(skip_locked=True)
    ids = list(connection.execute(oldest).scalars())
    if not ids:
        db.session.rollback()
        return []
    expires = now + timedelta(seconds=lease_seconds)
    connection.execute(
        update(_RUNS)
        .where(_RUNS.c.id.in_(ids))
        .values(
            status="running",
            started_at=now,
            lease_seconds=lease_seconds,
            lease_expires_at=expires,
        )
    )
    rows = connection.execute(_READ.where(_RUNS.c.id.in_(ids)).order_by(_RUNS.c.id)).mappings()
    claimed = [
        {
            "scanRunId": row["id"],
            "projectId": row["project_id"],
            "baseUrl": row["base_url"],
            "attempt": row["attempt"],
            "leaseExpiresAt": isoformat(expires),
            "deadlineAt": isoformat(deadline_at(row["created_at"])),
            "artifactPrefix": f"scan-runs/{row['id']}/",
        }
        for row in rows
    ]
    db.session.commit()
    log.info("claimed scan runs %s", ",".join(str(run_id) for run_id in ids))
    return claimed


def extend_lease(run_id: int) -> datetime:
    """Extend a running run's lease by its claim's ``leaseSeconds``; commits.

    Raises RunNotFound, or LeaseLost when the run is not running (requeued, finished)
    or its lease has already expired (the sweep will requeue it).
    """
    run = _lock_run(run_id)
    if run is None:
        db.session.rollback()
        raise RunNotFound(run_id)
    now = utcnow()
    expired = run["lease_expires_at"] is None or as_utc(run["lease_expires_at"]) <= now
    if run["status"] != "running" or expired or deadline_at(run["created_at"]) <= now:
        db.session.rollback()
        raise LeaseLost(run_id)
    expires = now + timedelta(seconds=run["lease_seconds"])
    _update_run(run_id, {"lease_expires_at": expires})
    db.session.commit()
    return expires


# --- Sweep: expired leases, attempts and deadlines ---------------------------------------


@sweep_step
def sweep_runs() -> dict[str, int]:
    """Requeue runs whose lease expired; fail with SCAN_TIMEOUT those out of time; commits.

    A lease that expires on attempt ``WRO_SCAN_MAX_ATTEMPTS``, or any run not finished
    ``WRO_SCAN_DEADLINE_SECONDS`` after it was created, fails through
    ``failure_changes``. Rows are locked (``SKIP LOCKED`` on PostgreSQL, so a second
    sweep, a claim or a postback holding one is passed over): two sweeps never settle
    the same run twice.
    """
    config = current_app.config
    now = utcnow()
    cutoff = now - timedelta(seconds=config["SCAN_DEADLINE_SECONDS"])
    begin_write()
    overdue = (
        _READ.where(
            ((_RUNS.c.status == "running") & (_RUNS.c.lease_expires_at <= now))
            | (_RUNS.c.status.in_(("queued", "running")) & (_RUNS.c.created_at <= cutoff))
        )
        .order_by(_RUNS.c.id)
        .limit(SWEEP_BATCH)
    )
    if is_postgresql():
        overdue = overdue.with_for_update(of=_RUNS, skip_locked=True)
    rows = list(db.session.connection().execute(overdue).mappings())
    requeued = timed_out = 0
    for run in rows:
        if as_utc(run["created_at"]) <= cutoff:
            message = (
                f"The scan did not finish within {config['SCAN_DEADLINE_SECONDS']} seconds "
                f"of being queued (attempt {run['attempt']})."
            )
        elif run["attempt"] >= config["SCAN_MAX_ATTEMPTS"]:
            message = (
                f"The scanner's lease expired on attempt {run['attempt']} of "
                f"{config['SCAN_MAX_ATTEMPTS']}; the scan was not retried again."
            )
        else:
            _update_run(
                run["id"],
                {
                    "status": "queued",
                    "attempt": run["attempt"] + 1,
                    "started_at": None,
                    "lease_expires_at": None,
                },
            )
            requeued += 1
            log.info(
                "scan run %s: lease expired, requeued as attempt %d", run["id"], run["attempt"] + 1
            )
            continue
        error = {"code": "SCAN_TIMEOUT", "message": message}
        _update_run(run["id"], failure_changes(run, error, reported_by_scanner=False))
        timed_out += 1
        log.warning("scan run %s failed with SCAN_TIMEOUT", run["id"])
    db.session.commit()
    return {"requeued": requeued, "timedOut": timed_out}


# --- Cancel -------------------------------------------------------------------------------


def cancel_run(run_id: int) -> None:
    """Fail a run that is not terminal with CANCELLED (credit restored); commits.

    Tenant checks are the caller's. Raises RunNotFound or RunTerminal.
    """
    run = _lock_run(run_id)
    if run is None:
        db.session.rollback()
        raise RunNotFound(run_id)
    if run["status"] in ("completed", "failed"):
        db.session.rollback()
        raise RunTerminal(run_id)
    error = {
        "code": "CANCELLED",
        "message": "The scan was cancelled by a member of the organization.",
    }
    _update_run(run_id, failure_changes(run, error, reported_by_scanner=False))
    db.session.commit()
    log.info("scan run %s cancelled", run_id)
