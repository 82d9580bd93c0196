"""The read API (bearer tokens): scan runs of the caller's organizations, and starting scans."""

from __future__ import annotations

import re

from flask import Response, jsonify, request, url_for

from webriskops.auth.tokens import require_api_user
from webriskops.errors import ApiError, validation_error
from webriskops.extensions import csrf
from webriskops.models import InsufficientCredits
from webriskops.reports import bp
from webriskops.reports.services import (
    list_scan_runs,
    scan_run_detail,
    scan_run_summary,
    visible_project,
    visible_scan_run,
)
from webriskops.scans.services import create_scan_run

MAX_PER_PAGE = 100
# ASCII digits only: str.isdigit() also accepts "²" and int() then fails with a 500.
_DIGITS = re.compile(r"[0-9]{1,10}")


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No {what} with this id in your organizations.")


def _page_args() -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, default, ceiling in (("page", 1, 10**9), ("perPage", 20, MAX_PER_PAGE)):
        raw = request.args.get(name, str(default))
        if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= ceiling:
            errors[name] = [f"Must be an integer from 1 to {ceiling}."]
        else:
            values[name] = int(raw)
    if errors:
        raise validation_error(errors, "Invalid pagination parameters.")
    return values["page"], values["perPage"]


@bp.get("/api/scan-runs/<int:scan_run_id>")
def api_scan_run(scan_run_id: int) -> Response:
    """A scan run with its pages and issues."""
    run = visible_scan_run(require_api_user(), scan_run_id)
    if run is None:
        raise _not_found("scan run")
    return jsonify(scan_run_detail(run))


@bp.get("/api/projects/<int:project_id>/scan-runs")
def api_project_scan_runs(project_id: int) -> Response:
    """A project's scan runs, newest first, paginated."""
    project = visible_project(require_api_user(), project_id)
    if project is None:
        raise _not_found("project")
    page, per_page = _page_args()
    runs, total = list_scan_runs(project, page=page, per_page=per_page)
    body = {
        "items": [scan_run_summary(run) for run in runs],
        "page": page,
        "perPage": per_page,
        "total": total,
        "next": (
            url_for(
                ".api_project_scan_runs", project_id=project.id, page=page + 1, perPage=per_page
            )
            if page * per_page < total
            else None
        ),
    }
    return jsonify(body)


@bp.post("/api/projects/<int:project_id>/scan-runs")
@csrf.exempt  # bearer-token authentication: no cookie, so nothing for another site to forge
def api_start_scan(project_id: int) -> tuple[Response, int, dict[str, str]]:
    """Create a queued run and reserve a credit (402 when none is left)."""
    project = visible_project(require_api_user(), project_id)
    if project is None:
        raise _not_found("project")
    try:
        run = create_scan_run(project)
    except InsufficientCredits:
        raise ApiError(
            402,
            "INSUFFICIENT_CREDITS",
            "The organization has no scan credits left. Add credits, then start the scan again.",
        ) from None
    location = url_for(".api_scan_run", scan_run_id=run.id)
    return jsonify({"scanRunId": run.id, "status": run.status}), 201, {"Location": location}
