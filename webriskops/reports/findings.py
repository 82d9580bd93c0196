"""A run's findings as customers look through them: filtered, sorted, paged and triaged.

Every list here is bounded: a page of findings, each with its first occurrences and
the count of all of them, so a run with thousands of pages sharing a few fingerprints
never turns into a response thousands of times larger than one finding. Filters run in
the database on the run's own issues (found by the ``issues.scan_run_id`` indexes),
and triage decisions are joined per project and fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from sqlalchemy import Select, and_, case, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from webriskops.extensions import db
from webriskops.models import Issue, IssueOccurrence, ScanPage, ScanRun, User
from webriskops.models.base import utcnow
from webriskops.models.triage import TriageState
from webriskops.reports.summary import previous_completed_run_id
from webriskops.vocabulary import SEVERITIES, Severity

OCCURRENCE_LIMIT = 10
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
# The risk score formula of the contract (3.3), applied to the open findings only.
SEVERITY_POINTS = {severity.value: severity.weight for severity in Severity}


@dataclass(frozen=True)
class FindingFilter:
    """What the customer asked for; ``None`` means "any"."""

    severity: str | None = None
    category: str | None = None
    change: str | None = None
    triage: str | None = None
    q: str | None = None
    sort: str = "severity"

    @classmethod
    def from_loaded(cls, data: dict[str, Any]) -> FindingFilter:
        """A filter from what ``FindingFilterSchema`` loaded."""
        return cls(
            **{key: data.get(key) for key in ("severity", "category", "change", "triage", "q")},
            sort=data.get("sort") or "severity",
        )

    @property
    def narrowed(self) -> bool:
        """True when any filter (not the sort) is set."""
        return any((self.severity, self.category, self.change, self.triage, self.q))

    def args(self) -> dict[str, str]:
        """The query parameters that reproduce this filter (defaults left out)."""
        values = {
            "severity": self.severity,
            "category": self.category,
            "change": self.change,
            "triage": self.triage,
            "q": self.q,
            "sort": None if self.sort == "severity" else self.sort,
        }
        return {key: value for key, value in values.items() if value}


@dataclass
class Finding:
    """An issue with its first occurrences, their total, its triage and its change."""

    issue: Issue
    occurrences: list[str] = field(default_factory=list)
    occurrence_count: int = 0
    triage: TriageState | None = None
    change: str | None = None

    @property
    def triage_state(self) -> str:
        """``open``, ``false_positive`` or ``accepted_risk``."""
        return self.triage.state if self.triage else "open"


def severity_rank():
    """SQL: 0 for high … 3 for info, for ordering."""
    return case(SEVERITY_RANK, value=Issue.severity, else_=len(SEVERITY_RANK))


def _triage_join(run: ScanRun):
    return and_(
        TriageState.project_id == run.project_id, TriageState.fingerprint == Issue.fingerprint
    )


def _in_previous(previous_id: int):
    before = aliased(Issue)
    return exists().where(
        before.scan_run_id == previous_id, before.fingerprint == Issue.fingerprint
    )


def findings_query(run: ScanRun, flt: FindingFilter, previous_id: int | None) -> Select:
    """SELECT Issue, TriageState for ``run`` narrowed by ``flt`` (not yet ordered).

    ``previous_id`` is the run's previous completed run, what ``change`` compares with.
    """
    query = (
        select(Issue, TriageState)
        .outerjoin(TriageState, _triage_join(run))
        .where(Issue.scan_run_id == run.id)
    )
    if flt.severity:
        query = query.where(Issue.severity == flt.severity)
    if flt.category:
        query = query.where(Issue.category == flt.category)
    if flt.triage == "open":
        query = query.where(or_(TriageState.id.is_(None), TriageState.state == "open"))
    elif flt.triage:
        query = query.where(TriageState.state == flt.triage)
    if flt.change == "new":
        query = query.where(~_in_previous(previous_id)) if previous_id else query
    elif flt.change == "recurring":
        query = query.where(_in_previous(previous_id)) if previous_id else query.where(false())
    if flt.q:
        needle = flt.q.strip()
        query = query.where(
            or_(
                *(
                    column.icontains(needle, autoescape=True)
                    for column in (
                        Issue.title,
                        Issue.description,
                        Issue.evidence,
                        Issue.type,
                        Issue.fingerprint,
                    )
                )
            )
        )
    return query


def _ordered(query: Select, sort: str) -> Select:
    rank = severity_rank()
    if sort == "id":  # the read API's stable order: as the scanner reported them
        return query.order_by(Issue.id)
    if sort == "category":
        return query.order_by(Issue.category, rank, Issue.id)
    if sort == "title":
        return query.order_by(Issue.title, Issue.id)
    if sort == "confidence":
        return query.order_by(Issue.confidence.desc(), rank, Issue.id)
    if sort == "pages":
        pages = (
            select(func.count())
            .where(IssueOccurrence.issue_id == Issue.id)
            .correlate(Issue)
            .scalar_subquery()
        )
        return query.order_by(pages.desc(), rank, Issue.id)
    return query.order_by(rank, Issue.category, Issue.id)


def _count(query: Select) -> int:
    return int(
        db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )


def occurrences(
    issue_ids: list[int], limit: int = OCCURRENCE_LIMIT, *, normalized: bool = True
) -> dict[int, tuple[list[str], int]]:
    """The first ``limit`` page URLs of each issue (in scan order) and their total.

    ``normalized`` picks the page's normalized URL (pages) or the URL as scanned (API).
    """
    if not issue_ids:
        return {}
    ranked = (
        select(
            IssueOccurrence.issue_id,
            ScanPage.normalized_url if normalized else ScanPage.url,
            func.row_number()
            .over(partition_by=IssueOccurrence.issue_id, order_by=ScanPage.position)
            .label("rank"),
            func.count().over(partition_by=IssueOccurrence.issue_id).label("total"),
        )
        .join(ScanPage, ScanPage.id == IssueOccurrence.scan_page_id)
        .where(IssueOccurrence.issue_id.in_(issue_ids))
        .subquery()
    )
    found: dict[int, tuple[list[str], int]] = {}
    for issue_id, url, _, total in db.session.execute(
        select(ranked).where(ranked.c.rank <= limit).order_by(ranked.c.issue_id, ranked.c.rank)
    ):
        urls, _ = found.setdefault(issue_id, ([], int(total)))
        urls.append(url)
    return found


def _changes(previous_id: int | None, fingerprints: list[str]) -> dict[str, str]:
    if previous_id is None:
        return dict.fromkeys(fingerprints, "new")
    before = set(
        db.session.scalars(
            select(Issue.fingerprint).where(
                Issue.scan_run_id == previous_id, Issue.fingerprint.in_(fingerprints)
            )
        )
    )
    return {fp: "recurring" if fp in before else "new" for fp in fingerprints}


def _findings(
    rows: list[tuple[Issue, TriageState | None]],
    previous_id: int | None,
    limit: int,
    normalized: bool = True,
) -> list[Finding]:
    seen = occurrences([issue.id for issue, _ in rows], limit, normalized=normalized)
    changes = _changes(previous_id, [issue.fingerprint for issue, _ in rows]) if rows else {}
    return [
        Finding(
            issue=issue,
            occurrences=seen.get(issue.id, ([], 0))[0],
            occurrence_count=seen.get(issue.id, ([], 0))[1],
            triage=triage,
            change=changes.get(issue.fingerprint),
        )
        for issue, triage in rows
    ]


def list_findings(
    run: ScanRun,
    flt: FindingFilter,
    *,
    page: int,
    per_page: int,
    occurrence_limit: int = OCCURRENCE_LIMIT,
    normalized: bool = True,
    clamp: bool = True,
    previous_id: int | None | EllipsisType = ...,
) -> tuple[list[Finding], int, int]:
    """One page of the run's findings matching ``flt``, the total, and the page shown.

    With ``clamp`` a page number past the end shows the last page (the caller says so);
    without it such a page is empty. ``previous_id`` is ``previous_completed_run_id(run)``
    when the caller has it already (a page listing several kinds of findings), else it
    is looked up here.
    """
    if previous_id is ...:
        previous_id = previous_completed_run_id(run)
    query = findings_query(run, flt, previous_id)
    total = _count(query)
    if clamp:
        page = min(max(1, page), max(1, -(-total // per_page)))
    rows = db.session.execute(
        _ordered(query, flt.sort).limit(per_page).offset((page - 1) * per_page)
    ).all()
    findings = _findings([tuple(row) for row in rows], previous_id, occurrence_limit, normalized)
    return findings, total, page


def iter_findings(
    run: ScanRun,
    flt: FindingFilter,
    *,
    chunk: int = 200,
    occurrence_limit: int = OCCURRENCE_LIMIT,
    normalized: bool = True,
    previous_id: int | None | EllipsisType = ...,
) -> Iterator[Finding]:
    """Every finding matching ``flt``, in order, loaded ``chunk`` at a time (for exports).

    ``previous_id`` as for ``list_findings``.
    """
    if previous_id is ...:
        previous_id = previous_completed_run_id(run)
    query = _ordered(findings_query(run, flt, previous_id), flt.sort)
    offset = 0
    while True:
        rows = db.session.execute(query.limit(chunk).offset(offset)).all()
        if not rows:
            return
        for finding in _findings(
            [tuple(row) for row in rows], previous_id, occurrence_limit, normalized
        ):
            yield finding
            # A long export must not keep every row it has shown in the session.
            db.session.expunge(finding.issue)
            if finding.triage is not None and finding.triage in db.session:
                db.session.expunge(finding.triage)
        offset += chunk


def severity_counts(run: ScanRun) -> dict[str, int]:
    """How many of the run's stored issues have each severity (all four listed)."""
    rows = db.session.execute(
        select(Issue.severity, func.count())
        .where(Issue.scan_run_id == run.id)
        .group_by(Issue.severity)
    ).all()
    counts = dict.fromkeys(SEVERITIES, 0)
    counts.update({severity: int(count) for severity, count in rows})
    return counts


def triage_counts(run: ScanRun) -> dict[str, int]:
    """How many of the run's issues are in each triage state, and the open risk score."""
    rows = db.session.execute(
        select(TriageState.state, Issue.severity, func.count())
        .select_from(Issue)
        .outerjoin(TriageState, _triage_join(run))
        .where(Issue.scan_run_id == run.id)
        .group_by(TriageState.state, Issue.severity)
    ).all()
    counts = {"open": 0, "false_positive": 0, "accepted_risk": 0, "openRiskScore": 0}
    score = 0
    for state, severity, count in rows:
        state = state or "open"
        counts[state] = counts.get(state, 0) + int(count)
        if state == "open":
            score += SEVERITY_POINTS.get(severity, 0) * int(count)
    counts["openRiskScore"] = min(100, score)
    return counts


def triage_of(project_id: int, fingerprint: str) -> TriageState | None:
    """The triage row of a fingerprint in a project, if one was ever set."""
    return db.session.scalars(
        select(TriageState).where(
            TriageState.project_id == project_id, TriageState.fingerprint == fingerprint
        )
    ).first()


def set_triage(
    project_id: int, fingerprint: str, state: str, reason: str, user: User
) -> TriageState:
    """Record a triage decision for every run of the project, now and later; commits."""
    for attempt in range(2):
        row = triage_of(project_id, fingerprint)
        if row is None:
            row = TriageState(project_id=project_id, fingerprint=fingerprint)
            db.session.add(row)
        row.state = state
        row.reason = reason.strip()
        row.updated_by_id = user.id
        row.updated_by_email = user.email
        row.updated_at = utcnow()
        try:
            db.session.commit()
        except IntegrityError:
            # Someone triaged the same fingerprint at the same moment: update their row.
            db.session.rollback()
            if attempt:
                raise
            continue
        return row
    raise AssertionError("unreachable")  # pragma: no cover


def issue_occurrences(
    run: ScanRun, fingerprint: str, *, page: int, per_page: int
) -> tuple[list[str], int] | None:
    """One page of the URLs an issue of ``run`` was seen on and their total (None: no issue)."""
    issue_id = db.session.scalar(
        select(Issue.id).where(Issue.scan_run_id == run.id, Issue.fingerprint == fingerprint)
    )
    if issue_id is None:
        return None
    total = db.session.scalar(
        select(func.count())
        .select_from(IssueOccurrence)
        .where(IssueOccurrence.issue_id == issue_id)
    )
    urls = db.session.scalars(
        select(ScanPage.url)
        .join(IssueOccurrence, IssueOccurrence.scan_page_id == ScanPage.id)
        .where(IssueOccurrence.issue_id == issue_id)
        .order_by(ScanPage.position)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(urls), int(total or 0)
