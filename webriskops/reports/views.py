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
    stream_template,
    stream_with_context,
    url_for,
)
from marshmallow import ValidationError

from webriskops.auth.forms import ActionForm
from webriskops.auth.session import current_user, login_required
from webriskops.extensions import db
from webriskops.jobs import outbox
from webriskops.models import InsufficientCredits, Organization, Project, ScanRun
from webriskops.models.base import as_utc, utcnow
from webriskops.models.triage import TRIAGE_LABELS, TRIAGE_STATES
from webriskops.reports import bp
from webriskops.reports.export import csv_lines
from webriskops.reports.findings import (
    FindingFilter,
    iter_findings,
    list_findings,
    set_triage,
    severity_counts,
    triage_counts,
)
from webriskops.reports.schemas import CHANGES, SORTS, FindingFilterSchema, TriageSchema
from webriskops.reports.services import (
    latest_runs,
    list_scan_runs,
    recent_runs,
    role_in,
    run_artifact,
    run_pages,
    visible_project,
    visible_projects,
    visible_scan_run,
)
from webriskops.reports.summary import previous_completed_run_id
from webriskops.scans.services import create_scan_run, deadline_at
from webriskops.storage import storage
from webriskops.vocabulary import CATEGORIES, SEVERITIES

log = logging.getLogger(__name__)

PER_PAGE = 20
ISSUES_PER_PAGE = 50
REPORT_PER_PAGE = 100
TRIAGED_LIMIT = 100
TREND_RUNS = 20
_PAGE_ARG = re.compile(r"[0-9]{1,6}")
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
SEVERITY_ORDER = SEVERITIES
# How categories read to people ("SEO", not "Seo").
CATEGORY_LABELS = {category: category.capitalize() for category in CATEGORIES} | {"seo": "SEO"}


@dataclass(frozen=True)
class Pagination:
    """Where a paginated list stands, for the template's pager.

    Links are built from ``values``, the parameters the page knows, never from the raw
    query string: a stray ``endpoint=`` or ``_external=`` can neither break ``url_for``
    nor leak into a link.
    """

    page: int
    per_page: int
    total: int
    arg: str
    endpoint: str
    values: dict[str, Any]
    requested: int | None = None

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

    @property
    def clamped(self) -> bool:
        """True when the page asked for does not exist and the last one is shown instead."""
        return self.requested is not None and self.requested != self.page

    def url(self, page: int) -> str:
        """This page's URL showing list page ``page`` (the other known parameters kept)."""
        values = {key: value for key, value in self.values.items() if value not in (None, "")}
        values[self.arg] = page
        return url_for(self.endpoint, **values)


def _page_number(arg: str) -> int:
    raw = request.args.get(arg, "1")
    return max(1, int(raw)) if _PAGE_ARG.fullmatch(raw) else 1


def _clamp(requested: int, total: int, per_page: int) -> int:
    return min(requested, max(1, -(-total // per_page)))


def _finding_filter(source=None, **defaults: str) -> tuple[FindingFilter, list[str]]:
    """The filter a query string (or form) asks for, and what was wrong with it.

    A bad value is named in the message and left out of the filter, so the page still
    answers (with status 400) instead of failing.
    """
    data = {**defaults, **(source if source is not None else request.args).to_dict()}
    try:
        return FindingFilter.from_loaded(FindingFilterSchema().load(data)), []
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        valid = {key: value for key, value in data.items() if key not in messages}
        problems = [
            f"{key}: {' '.join(str(m) for m in (value if isinstance(value, list) else [value]))}"
            for key, value in messages.items()
        ]
        return FindingFilter.from_loaded(FindingFilterSchema().load(valid)), problems


def _filter_context(flt: FindingFilter, problems: list[str]) -> dict[str, Any]:
    return {
        "flt": flt,
        "filter_problems": problems,
        "severities": SEVERITY_ORDER,
        "categories": CATEGORIES,
        "category_labels": CATEGORY_LABELS,
        "changes": CHANGES,
        "triage_states": TRIAGE_STATES,
        "triage_labels": TRIAGE_LABELS,
        "sorts": SORTS,
    }


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


def _missing_artifacts(keys: list[str]) -> set[str]:
    """The keys among ``keys`` that are not in storage (never uploaded, or collected)."""
    backend = storage()
    missing = set()
    for key in keys:
        try:
            if not backend.exists(key):
                missing.add(key)
        except Exception:  # storage unreachable: show the placeholder rather than a 500
            log.warning("could not check artifact %s", key)
            missing.add(key)
    return missing


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
    requested = _page_number("page")
    total = list_scan_runs(project, page=1, per_page=1)[1]
    page = _clamp(requested, total, PER_PAGE)
    runs, total = list_scan_runs(project, page=page, per_page=PER_PAGE)
    org = db.session.get(Organization, project.organization_id)
    html = render_template(
        "reports/project.html",
        project=project,
        org=org,
        role=role_in(current_user(), org.id),
        runs=runs,
        trend=_trend_chart(recent_runs(project, TREND_RUNS)),
        pagination=Pagination(
            page,
            PER_PAGE,
            total,
            "page",
            ".project",
            {"project_id": project.id},
            requested,
        ),
        form=ActionForm(),
        error=error,
    )
    return html, status


@bp.get("/projects/<int:project_id>")
@login_required
def project(project_id: int):
    """A project's runs, the risk trend, the credit balance and the "Start scan" button."""
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
            "Ask an owner of your organization to add credits, then start the scan again.",
        )
    log.info("user %s started scan run %s", current_user().id, run.id)
    flash(f"Scan #{run.id} is queued. One credit is reserved until it finishes.", "success")
    return redirect(url_for(".scan_run", scan_run_id=run.id))


@bp.get("/scan-runs/<int:scan_run_id>")
@login_required
def scan_run(scan_run_id: int):
    """A run's status, counters, pages with screenshots, findings to filter and triage."""
    run = _run_or_404(scan_run_id)
    flt, problems = _finding_filter()
    pages_requested, issues_requested = _page_number("pages_page"), _page_number("issues_page")
    pages_total = run_pages(run, page=1, per_page=1)[1]
    pages_page = _clamp(pages_requested, pages_total, PER_PAGE)
    pages, pages_total = run_pages(run, page=pages_page, per_page=PER_PAGE)
    findings, issues_total, issues_page = list_findings(
        run, flt, page=issues_requested, per_page=ISSUES_PER_PAGE
    )
    known = {"scan_run_id": run.id, **flt.args()}
    html = render_template(
        "reports/scan_run.html",
        run=run,
        dispatch=_dispatch_state(run),
        form=ActionForm(),
        project=run.project,
        role=role_in(current_user(), run.project.organization_id),
        pages=pages,
        findings=findings,
        missing=_missing_artifacts([page.screenshot_path for page in pages]),
        by_severity=severity_counts(run) if run.status == "completed" else {},
        triage=triage_counts(run) if run.status == "completed" else {},
        pages_pagination=Pagination(
            pages_page,
            PER_PAGE,
            pages_total,
            "pages_page",
            ".scan_run",
            {**known, "issues_page": issues_page if issues_page > 1 else None},
            pages_requested,
        ),
        issues_pagination=Pagination(
            issues_page,
            ISSUES_PER_PAGE,
            issues_total,
            "issues_page",
            ".scan_run",
            {**known, "pages_page": pages_page if pages_page > 1 else None},
            issues_requested,
        ),
        **_filter_context(flt, problems),
    )
    return html, 400 if problems else 200


@bp.post("/scan-runs/<int:scan_run_id>/triage")
@login_required
def triage(scan_run_id: int) -> Response:
    """Set a finding's triage state for this run and every later run of the project."""
    run = _run_or_404(scan_run_id)
    flt, _ = _finding_filter(request.form)
    back = {"scan_run_id": run.id, **flt.args()}
    if _PAGE_ARG.fullmatch(request.form.get("issues_page", "")):
        back["issues_page"] = int(request.form["issues_page"])
    try:
        data = TriageSchema().load(
            {
                key: request.form.get(key)
                for key in ("fingerprint", "state", "reason")
                if request.form.get(key) is not None
            }
        )
    except ValidationError as error:
        fields = error.messages if isinstance(error.messages, dict) else {}
        flash(
            "The finding was not updated: "
            + "; ".join(f"{key}: {' '.join(map(str, value))}" for key, value in fields.items()),
            "error",
        )
        return redirect(url_for(".scan_run", **back, _anchor="issues"))
    row = set_triage(
        run.project_id, data["fingerprint"], data["state"], data["reason"], current_user()
    )
    log.info("user %s set triage of a finding of project %s", current_user().id, run.project_id)
    if row.state == "open":
        flash("The finding is open again.", "success")
    else:
        flash(
            f"Marked as {TRIAGE_LABELS[row.state].lower()} for this project: later scans "
            "that report the same finding show it the same way.",
            "success",
        )
    return redirect(url_for(".scan_run", **back, _anchor="issues"))


@bp.get("/scan-runs/<int:scan_run_id>/issues.csv")
@login_required
def issues_csv(scan_run_id: int) -> Response:
    """The run's findings (filtered like the page) as CSV for spreadsheets."""
    run = _run_or_404(scan_run_id)
    flt, problems = _finding_filter()
    if problems:
        abort(400, "Invalid filter: " + "; ".join(problems))
    response = Response(stream_with_context(csv_lines(run, flt)), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="webriskops-scan-{run.id}-issues.csv"'
    )
    return response


def _report_context(run: ScanRun) -> dict[str, Any]:
    summary = run.report_summary if run.report_status == "ready" else None
    return {
        "run": run,
        "project": run.project,
        "summary": summary,
        "severity_chart": _severity_chart(summary) if summary else None,
        "category_chart": _category_chart(summary) if summary else None,
        "triage": triage_counts(run) if summary else {},
        "by_severity": severity_counts(run) if summary else {},
    }


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
def report(scan_run_id: int):
    """The customer report of a completed run: open findings first, triaged ones apart."""
    run = _run_or_404(scan_run_id)
    context = _report_context(run)
    flt, problems = _finding_filter()
    findings: list = []
    triaged: list = []
    triaged_total = 0
    pagination = None
    if context["summary"] is not None:
        # The report's list is what still needs attention unless a triage state is asked for.
        shown = flt if flt.triage else FindingFilter(**{**flt.__dict__, "triage": "open"})
        requested = _page_number("page")
        previous_id = previous_completed_run_id(run)  # one lookup for the lists below
        findings, total, page = list_findings(
            run, shown, page=requested, per_page=REPORT_PER_PAGE, previous_id=previous_id
        )
        pagination = Pagination(
            page,
            REPORT_PER_PAGE,
            total,
            "page",
            ".report",
            {"scan_run_id": run.id, **flt.args()},
            requested,
        )
        if not flt.triage:
            triaged, triaged_total = _triaged(run, flt, previous_id)
    html = render_template(
        "reports/report.html",
        **context,
        findings=findings,
        triaged=triaged,
        triaged_total=triaged_total,
        pagination=pagination,
        role=role_in(current_user(), run.project.organization_id),
        form=ActionForm(),
        **_filter_context(flt, problems),
    )
    return html, 400 if problems else 200


def _triaged(run: ScanRun, flt: FindingFilter, previous_id: int | None) -> tuple[list, int]:
    found, total = [], 0
    for state in ("false_positive", "accepted_risk"):
        narrowed = FindingFilter(**{**flt.__dict__, "triage": state})
        rows, count, _ = list_findings(
            run, narrowed, page=1, per_page=TRIAGED_LIMIT, previous_id=previous_id
        )
        found += rows[: max(0, TRIAGED_LIMIT - len(found))]
        total += count
    return found, total


@bp.get("/scan-runs/<int:scan_run_id>/report/print")
@login_required
def report_print(scan_run_id: int):
    """The whole report on one page for printing or saving as PDF: every finding.

    Streamed, so memory stays flat however many findings there are; each finding lists
    its first occurrences like everywhere else.
    """
    run = _run_or_404(scan_run_id)
    context = _report_context(run)
    if context["summary"] is None:
        return redirect(url_for(".report", scan_run_id=run.id))
    flt, problems = _finding_filter()
    if problems:
        abort(400, "Invalid filter: " + "; ".join(problems))
    open_only = flt if flt.triage else FindingFilter(**{**flt.__dict__, "triage": "open"})
    previous_id = previous_completed_run_id(run)  # one lookup for the three lists

    def listed(state: str):
        narrowed = FindingFilter(**{**flt.__dict__, "triage": state})
        return iter_findings(run, narrowed, previous_id=previous_id) if not flt.triage else iter(())

    return Response(
        stream_template(
            "reports/report_print.html",
            **context,
            **_filter_context(flt, []),
            findings=iter_findings(run, open_only, previous_id=previous_id),
            triaged_groups=(
                ("false_positive", listed("false_positive")),
                ("accepted_risk", listed("accepted_risk")),
            ),
        ),
        mimetype="text/html",
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
    return _bars([(CATEGORY_LABELS.get(c, c), int(counts[c])) for c in known])


def _trend_chart(runs: list[ScanRun]) -> dict[str, Any] | None:
    """Geometry of the project's trend: risk score as a line, issue counts as bars.

    ``runs`` are completed runs, oldest first. Drawn as inline SVG, scaled by the
    browser (viewBox), so it needs no script and fits any width.
    """
    if not runs:
        return None
    width, height, left, bottom, top = 640, 220, 34, 28, 12
    plot_w, plot_h = width - left - 34, height - top - bottom
    step = plot_w / max(1, len(runs))
    most = max([run.issues_count or 0 for run in runs] + [1])
    points, bars = [], []
    for index, run in enumerate(runs):
        x = left + step * index + step / 2
        score = float(run.risk_score or 0)
        issues = int(run.issues_count or 0)
        y_score = top + plot_h * (1 - score / 100)
        bar_h = plot_h * issues / most
        points.append({"x": round(x, 1), "y": round(y_score, 1), "score": round(score), "run": run})
        bars.append(
            {
                "x": round(x - min(18, step * 0.3), 1),
                "y": round(top + plot_h - bar_h, 1),
                "width": round(min(36, step * 0.6), 1),
                "height": round(bar_h, 1),
                "issues": issues,
                "run": run,
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "bottom_y": top + plot_h,
        "most": most,
        "points": points,
        "bars": bars,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "grid": [
            {"value": value, "y": round(top + plot_h * (1 - value / 100), 1)}
            for value in (0, 50, 100)
        ],
    }


# --- template helpers -------------------------------------------


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
