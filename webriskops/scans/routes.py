"""Dispatch endpoints for scanners, and cancel for customers (API and run page).

Scanner endpoints check in the contract's order, like the results endpoint:
authentication, rate limit (``admit_scanner``), body (size, media type, JSON),
schema, then the run. The customer endpoints use the read API's bearer token or the
browser session, and answer 404 for anything outside the caller's organizations.
"""

from __future__ import annotations

import re

from flask import Response, abort, current_app, flash, jsonify, redirect, url_for

from webriskops.auth.scanner import admit_scanner
from webriskops.auth.session import current_user, login_required
from webriskops.auth.tokens import require_api_user
from webriskops.errors import ApiError
from webriskops.extensions import csrf
from webriskops.ingest.body import parse_json, read_body, require_json_media_type
from webriskops.models.base import isoformat
from webriskops.reports.services import scan_run_summary, visible_scan_run
from webriskops.scans import bp, services
from webriskops.scans.schemas import load_claim

# A heartbeat's path id is checked after authentication, so it is read as text here.
_RUN_ID = re.compile(r"[0-9]{1,19}")


def _read_json_body() -> object | None:
    """The request's JSON body (None when empty), with the results endpoint's checks."""
    body = read_body(current_app.config["MAX_BODY_BYTES"])
    if not body.strip():
        return None
    require_json_media_type()
    return parse_json(body)


def _lease_lost() -> ApiError:
    return ApiError(
        409,
        "LEASE_LOST",
        "This run is no longer leased to you: its lease expired and it was requeued, or "
        "it is finished. Stop working on it; claim again for new work.",
    )


def _run_not_found(status: int = 404) -> ApiError:
    return ApiError(status, "SCAN_RUN_NOT_FOUND", "No scan run has this id.")


@bp.post("/api/scanner/runs/claim")
@csrf.exempt  # the scanner authenticates with its shared secret, not a cookie
def claim() -> Response:
    """Claim the oldest queued runs, each with a lease."""
    admit_scanner()
    options = load_claim(_read_json_body())
    runs = services.claim_runs(options["max"], options["leaseSeconds"])
    return jsonify({"runs": runs})


@bp.post("/api/scanner/runs/<scan_run_id>/heartbeat")
@csrf.exempt
def heartbeat(scan_run_id: str) -> Response:
    """Extend the lease of a claimed run by its claim's ``leaseSeconds``."""
    admit_scanner()
    _read_json_body()  # nothing is read from it, but it must be well-formed if sent
    if not _RUN_ID.fullmatch(scan_run_id):
        raise _run_not_found()
    try:
        expires = services.extend_lease(int(scan_run_id))
    except services.RunNotFound:
        raise _run_not_found() from None
    except services.LeaseLost:
        raise _lease_lost() from None
    return jsonify({"leaseExpiresAt": isoformat(expires)})


@bp.post("/api/scan-runs/<int:scan_run_id>/cancel")
@csrf.exempt  # bearer-token authentication: no cookie, so nothing for another site to forge
def api_cancel(scan_run_id: int) -> Response:
    """Cancel a run that is not terminal: it fails with CANCELLED and its credit comes back."""
    run = visible_scan_run(require_api_user(), scan_run_id)
    if run is None:
        raise ApiError(404, "NOT_FOUND", "No scan run with this id in your organizations.")
    try:
        services.cancel_run(run.id)
    except services.RunTerminal:
        raise ApiError(
            409,
            "RUN_TERMINAL",
            f"Scan run {run.id} is already {run.status}; it cannot be cancelled.",
        ) from None
    return jsonify(scan_run_summary(run))


@bp.post("/scan-runs/<int:scan_run_id>/cancel")
@login_required
def cancel(scan_run_id: int) -> Response:
    """The run page's "Cancel scan" button (CSRF-checked like every form)."""
    run = visible_scan_run(current_user(), scan_run_id)
    if run is None:
        abort(404)
    try:
        services.cancel_run(run.id)
    except services.RunTerminal:
        flash(f"Scan #{run.id} had already finished; nothing was cancelled.", "info")
    else:
        flash(f"Scan #{run.id} is cancelled. Its credit was given back.", "success")
    return redirect(url_for("reports.scan_run", scan_run_id=run.id))
