"""Customer pages: projects, a project's runs, scan detail, the report, and artifacts.

Every view looks things up through the tenant-checked service functions; anything
outside the user's organizations is a 404, exactly like something that does not exist.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from webriskops.auth.forms import ActionForm
from webriskops.auth.session import current_user, login_required
from webriskops.errors import ApiError, wants_json
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import InsufficientCredits, Organization, Project, ScanRun
from webriskops.models.base import as_utc, utcnow
from webriskops.reports import bp
from webriskops.reports.services import (
    latest_runs,
    list_scan_runs,
    role_in,
    run_artifact,
    run_issues,
    run_pages,
    visible_project,
    visible_projects,
    visible_scan_run,
)
from webriskops.reports.summary import CATEGORIES
from webriskops.scans.services import create_scan_run, deadline_at
from webriskops.storage import storage

log = logging.getLogger(__name__)

PER_PAGE = 20
REPORT_PER_PAGE = 50
_PAGE_ARG = re.compile(r"[0-9]{1,6}")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
SEVERITY_ORDER = ("high", "medium", "low", "info")
PAGE_ERRORS = {
    403: ("Not allowed", "Only an owner of this organization can do that."),
    404: (
        "Not found",
        "There is nothing here, or it belongs to an organization you are not a member of.",
    ),
}


@dataclass(frozen=True)
class Pagination:
    """Where a paginated list stands, for the template's pager."""

    page: int
    per_page: int
    total: int
    arg: str

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def first_item(self) -> int:
        """1-based number of the first item shown."""
        return min(self.total, (self.page - 1) * self.per_page + 1)

    @property
    def last_item(self) -> int:
        """1-based number of the last item shown."""
        return min(self.total, self.page * self.per_page)

    def url(self, page: int) -> str:
        """This page's URL showing list page ``page`` (other query arguments kept)."""
        args = {**request.args.to_dict(), self.arg: page}
        return url_for(request.endpoint, **request.view_args, **args)


def _page_number(arg: str) -> int:
    raw = request.args.get(arg, "1")
    return max(1, int(raw)) if _PAGE_ARG.fullmatch(raw) else 1


def _project_or_404(project_id: int) -> Project:
    project = visible_project(current_user(), project_id)
    if project is None:
        abort(404)
    return project


def _run_or_404(scan_run_id: int) -> ScanRun:
    run = visible_scan_run(current_user(), scan_run_id)
    if run is None:
        abort(404)
    return run


# --- pages -------------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    """The projects list is the home page."""
    return redirect(url_for(".projects"))


@bp.get("/projects")
@login_required
def projects() -> str:
    """The projects of every organization the user belongs to."""
    organizations = visible_projects(current_user())
    ids = [project.id for _, _, projects in organizations for project in projects]
    return render_template(
        "reports/projects.html", organizations=organizations, latest=latest_runs(ids)
    )


def _project_page(project: Project, status: int = 200, error: str | None = None):
    page = _page_number("page")
    runs, total = list_scan_runs(project, page=page, per_page=PER_PAGE)
    org = db.session.get(Organization, project.organization_id)
    html = render_template(
        "reports/project.html",
        project=project,
        org=org,
        role=role_in(current_user(), org.id),
        runs=runs,
        pagination=Pagination(page, PER_PAGE, total, "page"),
        form=ActionForm(),
        error=error,
    )
    return html, status


@bp.get("/projects/<int:project_id>")
@login_required
def project(project_id: int):
    """A project's runs, the credit balance and the "Start scan" button."""
    return _project_page(_project_or_404(project_id))


@bp.post("/projects/<int:project_id>/scan-runs")
@login_required
def start_scan(project_id: int):
    """Create a queued run and reserve a credit; 402 with an explanation when none is left."""
    project = _project_or_404(project_id)
    try:
        run = create_scan_run(project)
    except InsufficientCredits:
        return _project_page(
            project,
            402,
            "Your organization has no scan credits left, so no scan was started. "
            "Add credits to your organization, then start the scan again.",
        )
    log.info("user %s started scan run %s", current_user().id, run.id)
    flash(f"Scan #{run.id} is queued. One credit is reserved until it finishes.", "success")
    return redirect(url_for(".scan_run", scan_run_id=run.id))


@bp.get("/scan-runs/<int:scan_run_id>")
@login_required
def scan_run(scan_run_id: int) -> str:
    """A run's status, counters, pages with screenshots, issues with occurrences and error."""
    run = _run_or_404(scan_run_id)
    pages_page, issues_page = _page_number("pages_page"), _page_number("issues_page")
    pages, pages_total = run_pages(run, page=pages_page, per_page=PER_PAGE)
    issues, issues_total = run_issues(run, page=issues_page, per_page=PER_PAGE)
    return render_template(
        "reports/scan_run.html",
        run=run,
        dispatch=_dispatch_state(run),
        form=ActionForm(),
        project=run.project,
        pages=pages,
        issues=issues,
        pages_pagination=Pagination(pages_page, PER_PAGE, pages_total, "pages_page"),
        issues_pagination=Pagination(issues_page, PER_PAGE, issues_total, "issues_page"),
    )


def _dispatch_state(run: ScanRun) -> dict[str, Any]:
    """What the run page says about a run that is not finished: attempts, lease, deadline."""
    left = 0
    if run.lease_expires_at is not None:
        left = int((as_utc(run.lease_expires_at) - utcnow()).total_seconds())
    return {
        "max_attempts": current_app.config["SCAN_MAX_ATTEMPTS"],
        "lease_seconds_left": left,
        "deadline_at": deadline_at(run.created_at),
    }


@bp.get("/scan-runs/<int:scan_run_id>/report")
@login_required
def report(scan_run_id: int) -> str:
    """The customer report of a completed run."""
    run = _run_or_404(scan_run_id)
    summary = run.report_summary if run.report_status == "ready" else None
    issues: list = []
    pagination = None
    if summary is not None:
        page = _page_number("page")
        issues, total = run_issues(run, page=page, per_page=REPORT_PER_PAGE)
        pagination = Pagination(page, REPORT_PER_PAGE, total, "page")
    org_id = run.project.organization_id
    return render_template(
        "reports/report.html",
        run=run,
        project=run.project,
        summary=summary,
        issues=issues,
        new=set(summary.get("new", [])) if summary else set(),
        pagination=pagination,
        severity_chart=_severity_chart(summary) if summary else None,
        category_chart=_category_chart(summary) if summary else None,
        role=role_in(current_user(), org_id),
        form=ActionForm(),
    )


@bp.post("/scan-runs/<int:scan_run_id>/report/retry")
@login_required
def retry_report(scan_run_id: int) -> Response:
    """Queue the report job again for a failed report (owners only)."""
    run = _run_or_404(scan_run_id)
    if role_in(current_user(), run.project.organization_id) != "owner":
        abort(403)
    if run.status != "completed" or run.report_status != "failed":
        flash("Only a failed report of a completed scan can be retried.", "info")
        return redirect(url_for(".report", scan_run_id=run.id))
    run.report_status = "pending"
    outbox.record("generate_report", scan_run_id=run.id)
    db.session.commit()
    outbox.dispatch_ready()
    log.info("user %s retried the report of scan run %s", current_user().id, run.id)
    flash("The report is being generated again.", "success")
    return redirect(url_for(".report", scan_run_id=run.id))


@bp.get("/scan-runs/<int:scan_run_id>/artifacts/<path:key>")
@login_required
def artifact(scan_run_id: int, key: str) -> Response:
    """Stream a screenshot or (redacted) HTML snapshot the run references."""
    run = _run_or_404(scan_run_id)
    row = run_artifact(run, key)
    if row is None:
        abort(404)
    if row.kind == "html_snapshot" and row.redacted_at is None:
        # Until the redaction job has run the stored HTML may still hold secrets.
        abort(404, "This snapshot is still being redacted. Try again in a moment.")
    try:
        data = storage().get(row.storage_key)
    except KeyError:
        abort(404, "This artifact is no longer in storage.")
    response = Response(data)
    name = key.rsplit("/", 1)[-1]
    if row.kind == "html_snapshot":
        # Customer HTML must never run on our origin: shown as text, and sandboxed anyway.
        response.mimetype = "text/plain"
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response.headers["Content-Disposition"] = f'inline; filename="{name}.txt"'
    else:
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        content_type = IMAGE_TYPES.get(suffix)
        if content_type:
            response.mimetype = content_type
            response.headers["Content-Disposition"] = f'inline; filename="{name}"'
        else:
            response.mimetype = "application/octet-stream"
            response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# --- charts --------------------------------------------------------------------------------


def _bars(items: list[tuple[str, int]], width: int = 320) -> dict[str, Any]:
    """Geometry of a horizontal bar chart drawn as inline SVG (no script, no CDN)."""
    top = max([value for _, value in items] + [1])
    row, label_width = 30, 110
    bars = [
        {
            "label": label,
            "value": value,
            "y": index * row,
            "width": round((width - label_width - 40) * value / top, 1) if value else 0,
        }
        for index, (label, value) in enumerate(items)
    ]
    return {
        "bars": bars,
        "width": width,
        "height": max(row, row * len(items)),
        "label_width": label_width,
    }


def _severity_chart(summary: dict[str, Any]) -> dict[str, Any]:
    counts = summary.get("bySeverity", {})
    return _bars([(severity, int(counts.get(severity, 0))) for severity in SEVERITY_ORDER])


def _category_chart(summary: dict[str, Any]) -> dict[str, Any]:
    counts = summary.get("byCategory", {})
    known = [c for c in counts if c in CATEGORIES] + [c for c in counts if c not in CATEGORIES]
    return _bars([(category, int(counts[category])) for category in known])


# --- template helpers, headers and error pages -------------------------------------------


@bp.app_template_filter("when")
def format_when(value) -> str:
    """A timestamp as "2025-01-31 14:05 UTC" (empty for None)."""
    if value is None:
        return ""
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("duration")
def format_duration(run: ScanRun) -> str:
    """How long a run took from its claim to its end (or until now), e.g. "3 min 12 s"."""
    if run.started_at is None:
        return ""
    end = as_utc(run.finished_at) if run.finished_at else utcnow()
    seconds = int((end - as_utc(run.started_at)).total_seconds())
    minutes, seconds = divmod(max(0, seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


@bp.app_template_global()
def risk_level(score: float | None) -> tuple[str, str]:
    """A risk score's label and CSS class."""
    if score is None:
        return "Not scored", "none"
    if score >= 40:
        return "High risk", "high"
    if score >= 15:
        return "Elevated risk", "medium"
    if score > 0:
        return "Low risk", "low"
    return "No risk found", "clean"


@bp.after_app_request
def _page_security_headers(response: Response) -> Response:
    # Only HTML: artifacts set a sandbox policy of their own and the API is JSON.
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user() is not None:
            response.headers["Cache-Control"] = "private, no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.errorhandler(HTTPException)
def _page_error(error: HTTPException):
    status = error.code or 500
    if wants_json():
        return ApiError(
            status, "NOT_FOUND" if status == 404 else "HTTP_ERROR", error.name
        ).response()
    title, message = PAGE_ERRORS.get(status, (error.name, error.description))
    if error.description and error.description != type(error).description:
        message = error.description  # a specific explanation given where the error was raised
    return render_template("error.html", status=status, title=title, message=message), status
