"""Reading and starting scan runs for customers; tenant checks live here.

Every lookup takes the acting user and answers ``None`` for anything outside that
user's organizations, so callers turn "not yours" and "does not exist" into the same
404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from webriskops.extensions import db
from webriskops.models import (
    Artifact,
    Issue,
    IssueOccurrence,
    Membership,
    Organization,
    Project,
    ScanPage,
    ScanRun,
    User,
)
from webriskops.models.base import isoformat
from webriskops.scans.services import dispatch_json

MAX_ID = 2**63 - 1


def _valid_id(ident: int) -> bool:
    # A path id beyond BIGINT would make PostgreSQL raise; it cannot exist, so it is a 404.
    return 1 <= ident <= MAX_ID


def organization_ids(user: User) -> list[int]:
    """Ids of the organizations ``user`` belongs to."""
    return list(
        db.session.scalars(select(Membership.organization_id).where(Membership.user_id == user.id))
    )


def visible_project(user: User, project_id: int) -> Project | None:
    """The project if ``user`` is a member of its organization."""
    if not _valid_id(project_id):
        return None
    return db.session.execute(
        select(Project)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(Project.id == project_id, Membership.user_id == user.id)
    ).scalar_one_or_none()


def visible_scan_run(user: User, scan_run_id: int) -> ScanRun | None:
    """The run if ``user`` is a member of the organization that owns its project."""
    if not _valid_id(scan_run_id):
        return None
    return db.session.execute(
        select(ScanRun)
        .join(Project, Project.id == ScanRun.project_id)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(ScanRun.id == scan_run_id, Membership.user_id == user.id)
    ).scalar_one_or_none()


def role_in(user: User, organization_id: int) -> str | None:
    """``user``'s role (``owner`` or ``member``) in an organization, or None."""
    return db.session.scalar(
        select(Membership.role).where(
            Membership.user_id == user.id, Membership.organization_id == organization_id
        )
    )


def visible_projects(user: User) -> list[tuple[Organization, str, list[Project]]]:
    """Each organization of ``user`` with the user's role and its projects, by name."""
    rows = db.session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name, Organization.id)
    ).all()
    result = []
    for org, role in rows:
        projects = db.session.scalars(
            select(Project)
            .where(Project.organization_id == org.id)
            .order_by(Project.name, Project.id)
        ).all()
        result.append((org, role, list(projects)))
    return result


def latest_runs(project_ids: list[int]) -> dict[int, ScanRun]:
    """The newest run of each project."""
    if not project_ids:
        return {}
    newest = (
        select(func.max(ScanRun.id))
        .where(ScanRun.project_id.in_(project_ids))
        .group_by(ScanRun.project_id)
    )
    runs = db.session.scalars(select(ScanRun).where(ScanRun.id.in_(newest))).all()
    return {run.project_id: run for run in runs}


def run_artifact(run: ScanRun, key: str) -> Artifact | None:
    """The artifact row of ``run`` stored under ``key`` (only keys the run references)."""
    return db.session.scalars(
        select(Artifact).where(Artifact.scan_run_id == run.id, Artifact.storage_key == key)
    ).first()


def run_pages(run: ScanRun, *, page: int, per_page: int) -> tuple[list[ScanPage], int]:
    """One page of a run's stored pages, in scan order, and the total."""
    total = db.session.scalar(
        select(func.count()).select_from(ScanPage).where(ScanPage.scan_run_id == run.id)
    )
    pages = db.session.scalars(
        select(ScanPage)
        .where(ScanPage.scan_run_id == run.id)
        .order_by(ScanPage.position)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(pages), int(total or 0)


def run_issues(
    run: ScanRun, *, page: int, per_page: int
) -> tuple[list[tuple[Issue, list[str]]], int]:
    """One page of a run's issues, most severe first, each with the URLs it was seen on."""
    severity_rank = case(
        {"high": 0, "medium": 1, "low": 2, "info": 3}, value=Issue.severity, else_=4
    )
    total = db.session.scalar(
        select(func.count()).select_from(Issue).where(Issue.scan_run_id == run.id)
    )
    issues = db.session.scalars(
        select(Issue)
        .where(Issue.scan_run_id == run.id)
        .order_by(severity_rank, Issue.category, Issue.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    seen_on: dict[int, list[str]] = {}
    if issues:
        for issue_id, url in db.session.execute(
            select(IssueOccurrence.issue_id, ScanPage.url)
            .join(ScanPage, ScanPage.id == IssueOccurrence.scan_page_id)
            .where(IssueOccurrence.issue_id.in_([issue.id for issue in issues]))
            .order_by(ScanPage.position)
        ):
            seen_on.setdefault(issue_id, []).append(url)
    return [(issue, seen_on.get(issue.id, [])) for issue in issues], int(total or 0)


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
        **dispatch_json(run),
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
