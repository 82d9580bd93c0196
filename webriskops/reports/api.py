"""The read API (bearer tokens): scan runs, their findings and exports, triage, starting scans.

Everything is looked up through the tenant-checked services: another organization's
run or project answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request, url_for
from marshmallow import Schema, ValidationError

from webriskops.auth.tokens import require_api_user
from webriskops.errors import ApiError, validation_error
from webriskops.models import InsufficientCredits
from webriskops.reports import bp
from webriskops.reports.export import SARIF_MEDIA_TYPE, sarif_log
from webriskops.reports.findings import issue_occurrences, set_triage
from webriskops.reports.schemas import ListPageSchema, TriageSchema
from webriskops.reports.services import (
    list_scan_runs,
    scan_run_detail,
    scan_run_summary,
    triage_json,
    visible_project,
    visible_scan_run,
)
from webriskops.scans.services import create_scan_run
from webriskops.vocabulary import MAX_PAGE_NUMBER, MAX_PER_PAGE

# ASCII digits only: str.isdigit() also accepts "²" and int() then fails with a 500.
_DIGITS = re.compile(r"[0-9]{1,10}")


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No {what} with this id in your organizations.")


def _page_args() -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, default, ceiling in (("page", 1, MAX_PAGE_NUMBER), ("perPage", 20, MAX_PER_PAGE)):
        raw = request.args.get(name, str(default))
        if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= ceiling:
            errors[name] = [f"Must be an integer from 1 to {ceiling}."]
        else:
            values[name] = int(raw)
    if errors:
        raise validation_error(errors, "Invalid pagination parameters.")
    return values["page"], values["perPage"]


def load(schema: Schema, data: Any, message: str) -> dict[str, Any]:
    """``data`` loaded by ``schema``, or 422 ``VALIDATION_FAILED`` naming each bad field."""
    try:
        return schema.load(data)
    except ValidationError as error:
        messages = (
            error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        )
        fields = {
            name: [str(item) for item in (value if isinstance(value, list) else [value])]
            for name, value in messages.items()
        }
        raise validation_error(fields, message) from None


def _visible_run(scan_run_id: int):
    run = visible_scan_run(require_api_user(), scan_run_id)
    if run is None:
        raise _not_found("scan run")
    return run


@bp.get("/api/scan-runs/<int:scan_run_id>")
def api_scan_run(scan_run_id: int) -> Response:
    """A scan run with one page of its pages and issues (``page``, ``perPage`` ≤ 500)."""
    run = _visible_run(scan_run_id)
    args = load(ListPageSchema(), request.args, "Invalid pagination parameters.")
    return jsonify(scan_run_detail(run, page=args["page"], per_page=args["perPage"]))


@bp.get("/api/scan-runs/<int:scan_run_id>/occurrences")
def api_issue_occurrences(scan_run_id: int) -> Response:
    """Every page URL an issue of the run was seen on, paginated (query ``fingerprint``)."""
    run = _visible_run(scan_run_id)
    args = load(ListPageSchema(), request.args, "Invalid pagination parameters.")
    fingerprint = request.args.get("fingerprint", "")
    found = issue_occurrences(run, fingerprint, page=args["page"], per_page=args["perPage"])
    if found is None:
        raise ApiError(404, "NOT_FOUND", "This scan run has no issue with this fingerprint.")
    urls, total = found
    page, per_page = args["page"], args["perPage"]
    return jsonify(
        {
            "scanRunId": run.id,
            "fingerprint": fingerprint,
            "items": urls,
            "page": page,
            "perPage": per_page,
            "total": total,
            "next": url_for(
                ".api_issue_occurrences",
                scan_run_id=run.id,
                fingerprint=fingerprint,
                page=page + 1,
                perPage=per_page,
            )
            if page * per_page < total
            else None,
        }
    )


@bp.get("/api/scan-runs/<int:scan_run_id>/sarif")
def api_scan_run_sarif(scan_run_id: int) -> Response:
    """The run's findings as a SARIF 2.1.0 log (GitHub code scanning, DefectDojo)."""
    run = _visible_run(scan_run_id)
    response = jsonify(sarif_log(run))
    response.mimetype = SARIF_MEDIA_TYPE
    response.headers["Content-Disposition"] = (
        f'attachment; filename="webriskops-scan-{run.id}.sarif"'
    )
    return response


@bp.put("/api/projects/<int:project_id>/triage")
def api_set_triage(project_id: int) -> Response:
    """Mark a fingerprint open, a false positive or an accepted risk for the whole project."""
    user = require_api_user()
    project = visible_project(user, project_id)
    if project is None:
        raise _not_found("project")
    if not request.is_json:
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    data = load(TriageSchema(), body, "The triage decision has invalid fields.")
    row = set_triage(project.id, data["fingerprint"], data["state"], data["reason"], user)
    return jsonify({"projectId": project.id, "fingerprint": row.fingerprint, **triage_json(row)})


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
