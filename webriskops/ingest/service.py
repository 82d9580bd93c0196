"""Storing a scanner postback: one transaction per postback, set-based writes.

The service knows nothing of HTTP. ``ingest_result`` locks the run, decides between
duplicate, completed and failed, writes everything in one transaction together with
the outbox row of the after-commit work (``finish_scan_run``, which fans out into the
run's jobs in a worker), and returns the 202 body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import bindparam, select, update

from webriskops.database import begin_write, is_postgresql
from webriskops.errors import ApiError
from webriskops.extensions import db
from webriskops.ingest import idempotency
from webriskops.ingest.bulk import insert_rows
from webriskops.jobs import outbox
from webriskops.models import (
    Artifact,
    Issue,
    IssueOccurrence,
    Project,
    ScanPage,
    ScanRun,
    settle_credit,
)
from webriskops.models.base import utcnow
from webriskops.models.scans import COUNTER_COLUMNS, TERMINAL_STATUSES, api_counters
from webriskops.redaction import Redactor
from webriskops.scans.services import failure_changes

log = logging.getLogger(__name__)

SEVERITY_WEIGHTS = {"high": 10, "medium": 4, "low": 1}


@dataclass(frozen=True)
class Accepted:
    """A 202 answer: its body, already serialised, and whether it is a replay."""

    body: bytes
    replayed: bool = False
    status: int = 202


def redactor() -> Redactor:
    """The app's redactor (it always redacts the configured scanner secrets)."""
    return current_app.extensions["redactor"]


def ingest_result(result: dict, *, key: str | None, body_hash: str) -> Accepted:
    """Apply a validated postback to its scan run and answer as section 3.8 says."""
    if key is not None:
        replay = idempotency.claim(key, body_hash)
        if replay is not None:
            return Accepted(replay.body, replayed=True, status=replay.status)
    try:
        begin_write()
        run = _lock_run(result["scanRunId"])
        if run["status"] in TERMINAL_STATUSES:
            body = _response(run, duplicate=True, pages=0, issues=0)
        elif result["status"] == "completed":
            changes, pages, issues = _store_completed(run, result)
            body = _response(_update_run(run, changes), duplicate=False, pages=pages, issues=issues)
        else:
            changes = _store_failed(run, result["error"])
            body = _response(_update_run(run, changes), duplicate=False, pages=0, issues=0)
        encoded = orjson.dumps(body)
        if key is not None:
            idempotency.complete(key, 202, encoded)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if key is not None:
            idempotency.release(key)
        raise
    log.info("scan run %s postback accepted: %s", body["scanRunId"], body["status"])
    return Accepted(encoded)


# The hot path reads and writes ``scan_runs`` with table statements, not ORM objects: one
# postback touches the run once, and the unit of work's bookkeeping would cost more than
# the statements themselves. The statements are built once; only their values change.
_RUNS = ScanRun.__table__
_PROJECTS = Project.__table__
_READ_RUN = (
    select(
        _RUNS.c.id,
        _RUNS.c.status,
        _RUNS.c.started_at,
        *(_RUNS.c[column] for column in COUNTER_COLUMNS),
        _PROJECTS.c.organization_id,
    )
    .join(_PROJECTS, _PROJECTS.c.id == _RUNS.c.project_id)
    .where(_RUNS.c.id == bindparam("scan_run_id"))
)
# Serialises postbacks for the same run: the second waits, then sees a terminal run.
_LOCK_RUN = _READ_RUN.with_for_update(of=_RUNS)
# The SET clause is made of the keys passed with each execution.
_UPDATE_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("scan_run_id"))


def _lock_run(scan_run_id: int) -> Mapping[str, Any]:
    """What a postback reads of the run, locked for this transaction.

    PostgreSQL locks the row; SQLite has no row locks, and ``begin_write`` has already
    taken its database-wide write lock.
    """
    query = _LOCK_RUN if is_postgresql() else _READ_RUN
    connection = db.session.connection()
    row = connection.execute(query, {"scan_run_id": scan_run_id}).mappings().one_or_none()
    if row is None:
        raise ApiError(
            422,
            "SCAN_RUN_NOT_FOUND",
            "No scan run has this scanRunId. Post results only for runs WebRiskOps created.",
            {"scanRunId": ["Scan run not found."]},
        )
    return row


def _update_run(run: Mapping[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Write ``changes`` to the locked run; return what was read of it, updated."""
    # ``updated_at`` is set by the column's own ``onupdate``.
    db.session.connection().execute(_UPDATE_RUN, {**changes, "scan_run_id": run["id"]})
    return {**run, **changes}


def _page_entries(result: dict) -> list[dict]:
    if "pages" in result:
        return result["pages"]
    return [{"page": result["page"], "artifacts": result["artifacts"], "issues": result["issues"]}]


def _store_completed(run: Mapping[str, Any], result: dict) -> tuple[dict[str, Any], int, int]:
    """Store pages, artifacts, issues and occurrences and consume the credit.

    Returns the run's new column values and how many pages and issues were stored.
    """
    run_id = run["id"]
    redact = redactor()
    entries = _page_entries(result)
    page_rows = [
        _page_row(run_id, position, entry, redact) for position, entry in enumerate(entries)
    ]
    page_ids = insert_rows(ScanPage, page_rows, key="position")

    artifact_rows: dict[str, dict] = {}
    issues_by_fingerprint: dict[str, dict] = {}
    occurrences: dict[tuple[str, int], None] = {}
    for entry, page_id in zip(entries, page_ids, strict=True):
        artifacts = entry["artifacts"]
        _add_artifact(artifact_rows, run_id, page_id, "screenshot", artifacts["screenshotPath"])
        _add_artifact(
            artifact_rows, run_id, page_id, "html_snapshot", artifacts.get("htmlSnapshotPath")
        )
        for issue in entry["issues"]:
            fingerprint = issue["fingerprint"]
            if fingerprint not in issues_by_fingerprint:
                issues_by_fingerprint[fingerprint] = _issue_row(run_id, issue, redact)
            _add_artifact(
                artifact_rows, run_id, page_id, "issue_screenshot", issue.get("screenshotPath")
            )
            occurrences[(fingerprint, page_id)] = None

    insert_rows(Artifact, list(artifact_rows.values()))
    rows = list(issues_by_fingerprint.values())
    issue_ids = dict(
        zip(issues_by_fingerprint, insert_rows(Issue, rows, key="fingerprint"), strict=True)
    )
    insert_rows(
        IssueOccurrence,
        [
            {"issue_id": issue_ids[fingerprint], "scan_page_id": page_id}
            for fingerprint, page_id in occurrences
        ],
    )

    counters = _counters(result.get("counters") or {}, len(page_rows), issues_by_fingerprint)
    now = utcnow()
    settle_credit(run["organization_id"], run_id, consumed=True)
    outbox.record("finish_scan_run", scan_run_id=run_id)
    changes = {
        "status": "completed",
        "credit_state": "consumed",
        "report_status": "pending",
        "started_at": run["started_at"] or now,
        "finished_at": now,
        "lease_expires_at": None,
        **{column: counters[name] for column, name in COUNTER_COLUMNS.items()},
    }
    return changes, len(page_rows), len(issues_by_fingerprint)


def _store_failed(run: Mapping[str, Any], error: dict) -> dict[str, Any]:
    """The failed run's columns, through the one failure path every failure takes."""
    return failure_changes(run, error, reported_by_scanner=True)


def _page_row(run_id: int, position: int, entry: dict, redact: Redactor) -> dict[str, Any]:
    page, artifacts = entry["page"], entry["artifacts"]
    title = page.get("title")
    return {
        "scan_run_id": run_id,
        "position": position,
        "url": redact.redact_url(page["url"]),
        "normalized_url": redact.redact_url(page["normalizedUrl"]),
        "status_code": page["statusCode"],
        "page_type": page["pageType"],
        "response_headers": redact.redact_headers(page["responseHeaders"]),
        "title": redact.redact(title) if title is not None else None,
        "console_errors_count": page.get("consoleErrorsCount"),
        "network_errors_count": page.get("networkErrorsCount"),
        "load_time_ms": page.get("loadTimeMs"),
        "screenshot_path": artifacts["screenshotPath"],
        "html_snapshot_path": artifacts.get("htmlSnapshotPath"),
    }


def _issue_row(run_id: int, issue: dict, redact: Redactor) -> dict[str, Any]:
    def optional(name: str) -> str | None:
        value = issue.get(name)
        return redact.redact(value) if value is not None else None

    steps = issue.get("reproductionSteps")
    return {
        "scan_run_id": run_id,
        "fingerprint": issue["fingerprint"],
        "category": issue["category"],
        "type": issue["type"],
        "severity": issue["severity"],
        "title": redact.redact(issue["title"]),
        "description": redact.redact(issue["description"]),
        "confidence": issue["confidence"],
        "evidence": redact.redact(issue["evidence"]),
        "business_impact": optional("businessImpact"),
        "suggested_remediation": optional("suggestedRemediation"),
        "reproduction_steps": [redact.redact(step) for step in steps]
        if steps is not None
        else None,
        "screenshot_path": issue.get("screenshotPath"),
    }


def _add_artifact(
    rows: dict[str, dict], run_id: int, page_id: int, kind: str, key: str | None
) -> None:
    if key is not None and key not in rows:
        rows[key] = {
            "scan_run_id": run_id,
            "scan_page_id": page_id,
            "kind": kind,
            "storage_key": key,
        }


def _counters(sent: dict, pages: int, issues: dict[str, dict]) -> dict[str, int | float]:
    """Counters as sent, each missing one derived from what was stored."""
    by_severity = {"high": 0, "medium": 0, "low": 0, "info": 0}
    for issue in issues.values():
        by_severity[issue["severity"]] += 1
    derived: dict[str, int | float] = {
        "pagesScanned": pages,
        "issuesCount": len(issues),
        "highCount": by_severity["high"],
        "mediumCount": by_severity["medium"],
        "lowCount": by_severity["low"],
    }
    derived["riskScore"] = risk_score(
        by_severity["high"], by_severity["medium"], by_severity["low"]
    )
    return {name: sent.get(name, derived[name]) for name in COUNTER_COLUMNS.values()}


def risk_score(high: int, medium: int, low: int) -> int:
    """``min(100, 10·high + 4·medium + 1·low)``."""
    return min(100, SEVERITY_WEIGHTS["high"] * high + SEVERITY_WEIGHTS["medium"] * medium + low)


def _response(
    run: Mapping[str, Any], *, duplicate: bool, pages: int, issues: int
) -> dict[str, Any]:
    run_id = run["id"]
    return {
        "scanRunId": run_id,
        "status": run["status"],
        "duplicate": duplicate,
        "pagesStored": pages,
        "issuesStored": issues,
        "counters": api_counters(run),
        "links": {"scanRun": f"/api/scan-runs/{run_id}", "report": f"/scan-runs/{run_id}/report"},
    }
