"""Reading and starting scan runs for customers; tenant checks live here.

Every lookup takes the acting user and answers ``None`` for anything outside that
user's organizations, so callers turn "not yours" and "does not exist" into the same
404.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import func, select

from webriskops.extensions import db
from webriskops.models import (
    Artifact,
    Membership,
    Organization,
    Project,
    ScanPage,
    ScanRun,
    User,
)
from webriskops.models.base import isoformat
from webriskops.models.triage import TriageState
from webriskops.reports.findings import Finding, FindingFilter, list_findings
from webriskops.reports.schemas import DEFAULT_PER_PAGE
from webriskops.scans.services import dispatch_json
from webriskops.vocabulary import is_row_id

# How many occurrences an issue lists in the read API; the rest are a link away.
API_OCCURRENCE_LIMIT = 20


def organization_ids(user: User) -> list[int]:
    """Ids of the organizations ``user`` belongs to."""
    return list(
        db.session.scalars(select(Membership.organization_id).where(Membership.user_id == user.id))
    )


def visible_project(user: User, project_id: int) -> Project | None:
    """The project if ``user`` is a member of its organization."""
    if not is_row_id(project_id):
        return None
    return db.session.execute(
        select(Project)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(Project.id == project_id, Membership.user_id == user.id)
    ).scalar_one_or_none()


def visible_scan_run(user: User, scan_run_id: int) -> ScanRun | None:
    """The run if ``user`` is a member of the organization that owns its project."""
    if not is_row_id(scan_run_id):
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


def recent_runs(project: Project, limit: int) -> list[ScanRun]:
    """The project's last ``limit`` completed runs, oldest first (for the trend chart)."""
    runs = db.session.scalars(
        select(ScanRun)
        .where(ScanRun.project_id == project.id, ScanRun.status == "completed")
        .order_by(ScanRun.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(runs))


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


def scan_run_detail(
    run: ScanRun, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> dict[str, Any]:
    """The run with one page of its stored pages and issues, the totals and the next link.

    ``page``/``perPage`` apply to both lists; each issue carries its first occurrences
    (page URLs) and ``occurrenceCount``, so the answer stays bounded however many pages
    share a fingerprint.
    """
    pages, pages_total = run_pages(run, page=page, per_page=per_page)
    findings, issues_total, _ = list_findings(
        run,
        FindingFilter(sort="id"),
        page=page,
        per_page=per_page,
        occurrence_limit=API_OCCURRENCE_LIMIT,
        normalized=False,
        clamp=False,
    )
    more = page * per_page < max(pages_total, issues_total)
    return {
        **scan_run_summary(run),
        "pages": [page_json(row) for row in pages],
        "issues": [issue_json(finding, run) for finding in findings],
        "page": page,
        "perPage": per_page,
        "pagesTotal": pages_total,
        "issuesTotal": issues_total,
        "next": url_for("reports.api_scan_run", scan_run_id=run.id, page=page + 1, perPage=per_page)
        if more
        else None,
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


def triage_json(row: TriageState | None) -> dict[str, Any]:
    """A triage decision as the API shows it (``open`` with nulls when never triaged)."""
    return {
        "state": row.state if row else "open",
        "reason": row.reason if row else None,
        "updatedAt": isoformat(row.updated_at) if row else None,
        "updatedBy": row.updated_by_email if row else None,
    }


def issue_json(finding: Finding, run: ScanRun) -> dict[str, Any]:
    """A stored issue as the API shows it, with its first occurrences and its triage."""
    issue = finding.issue
    truncated = finding.occurrence_count > len(finding.occurrences)
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
        "occurrences": finding.occurrences,
        "occurrenceCount": finding.occurrence_count,
        "occurrencesNext": url_for(
            "reports.api_issue_occurrences",
            scan_run_id=run.id,
            fingerprint=issue.fingerprint,
            page=2,
            perPage=API_OCCURRENCE_LIMIT,
        )
        if truncated
        else None,
        "change": finding.change,
        "triage": triage_json(finding.triage),
    }
