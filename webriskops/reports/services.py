"""Reading and starting scan runs for customers; tenant checks live here.

Every lookup takes the acting user and answers ``None`` for anything outside that
user's organizations, so callers turn "not yours" and "does not exist" into the same
404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from webriskops.extensions import db
from webriskops.models import (
    Issue,
    IssueOccurrence,
    Membership,
    Project,
    ScanPage,
    ScanRun,
    User,
    reserve_credit,
)
from webriskops.models.base import isoformat


def organization_ids(user: User) -> list[int]:
    """Ids of the organizations ``user`` belongs to."""
    return list(
        db.session.scalars(select(Membership.organization_id).where(Membership.user_id == user.id))
    )


def visible_project(user: User, project_id: int) -> Project | None:
    """The project if ``user`` is a member of its organization."""
    return db.session.execute(
        select(Project)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(Project.id == project_id, Membership.user_id == user.id)
    ).scalar_one_or_none()


def visible_scan_run(user: User, scan_run_id: int) -> ScanRun | None:
    """The run if ``user`` is a member of the organization that owns its project."""
    return db.session.execute(
        select(ScanRun)
        .join(Project, Project.id == ScanRun.project_id)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(ScanRun.id == scan_run_id, Membership.user_id == user.id)
    ).scalar_one_or_none()


def create_scan_run(project: Project) -> ScanRun:
    """Create a queued run and reserve one credit (raises InsufficientCredits); commits."""
    run = ScanRun(project_id=project.id, status="queued", credit_state="reserved")
    db.session.add(run)
    db.session.flush()
    try:
        reserve_credit(project.organization_id, run.id)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return run


def list_scan_runs(project: Project, *, page: int, per_page: int) -> tuple[list[ScanRun], int]:
    """One page of a project's runs, newest first, and the total count."""
    total = db.session.scalar(
        select(func.count()).select_from(ScanRun).where(ScanRun.project_id == project.id)
    )
    runs = db.session.scalars(
        select(ScanRun)
        .where(ScanRun.project_id == project.id)
        .order_by(ScanRun.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(runs), int(total or 0)


def scan_run_summary(run: ScanRun) -> dict[str, Any]:
    """The run without its pages and issues (for lists)."""
    error = None
    if run.error_code:
        error = {
            "code": run.error_code,
            "message": run.error_message,
            "url": run.error_url,
            "timeoutMs": run.error_timeout_ms,
        }
    return {
        "scanRunId": run.id,
        "projectId": run.project_id,
        "status": run.status,
        "counters": run.counters(),
        "error": error,
        "reportStatus": run.report_status,
        "createdAt": isoformat(run.created_at),
        "startedAt": isoformat(run.started_at),
        "finishedAt": isoformat(run.finished_at),
        "updatedAt": isoformat(run.updated_at),
    }


def scan_run_detail(run: ScanRun) -> dict[str, Any]:
    """The run with every stored page and issue (issues with the page URLs they were seen on)."""
    pages = db.session.scalars(
        select(ScanPage).where(ScanPage.scan_run_id == run.id).order_by(ScanPage.position)
    ).all()
    page_urls = {page.id: page.url for page in pages}
    issues = db.session.scalars(
        select(Issue).where(Issue.scan_run_id == run.id).order_by(Issue.id)
    ).all()
    seen_on: dict[int, list[str]] = {}
    for issue_id, page_id in db.session.execute(
        select(IssueOccurrence.issue_id, IssueOccurrence.scan_page_id)
        .join(Issue, Issue.id == IssueOccurrence.issue_id)
        .where(Issue.scan_run_id == run.id)
        .order_by(IssueOccurrence.id)
    ):
        seen_on.setdefault(issue_id, []).append(page_urls[page_id])
    return {
        **scan_run_summary(run),
        "pages": [page_json(page) for page in pages],
        "issues": [issue_json(issue, seen_on.get(issue.id, [])) for issue in issues],
    }


def page_json(page: ScanPage) -> dict[str, Any]:
    """A stored page as the API shows it."""
    return {
        "url": page.url,
        "normalizedUrl": page.normalized_url,
        "statusCode": page.status_code,
        "pageType": page.page_type,
        "responseHeaders": page.response_headers,
        "title": page.title,
        "consoleErrorsCount": page.console_errors_count,
        "networkErrorsCount": page.network_errors_count,
        "loadTimeMs": page.load_time_ms,
        "artifacts": {
            "screenshotPath": page.screenshot_path,
            "htmlSnapshotPath": page.html_snapshot_path,
        },
    }


def issue_json(issue: Issue, occurrences: list[str]) -> dict[str, Any]:
    """A stored issue as the API shows it."""
    return {
        "fingerprint": issue.fingerprint,
        "category": issue.category,
        "type": issue.type,
        "severity": issue.severity,
        "title": issue.title,
        "description": issue.description,
        "confidence": issue.confidence,
        "evidence": issue.evidence,
        "businessImpact": issue.business_impact,
        "suggestedRemediation": issue.suggested_remediation,
        "reproductionSteps": issue.reproduction_steps,
        "screenshotPath": issue.screenshot_path,
        "occurrences": occurrences,
    }
