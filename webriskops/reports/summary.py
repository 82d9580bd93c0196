"""The report of a completed run: totals, breakdowns and the comparison with the previous run.

The summary is computed once by the ``generate_report`` job and stored on the run, so
the report page shows what was true when the run finished even if later runs arrive.
Across runs an issue is compared by fingerprint: **new** (not in the project's
previous completed run), **recurring** (in both) or **resolved** (in the previous run,
absent now). Without a previous completed run every issue is new.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Select, bindparam, or_, select

from webriskops.extensions import db
from webriskops.models import Issue, ScanRun
from webriskops.vocabulary import SEVERITIES


def previous_completed_run_id(run: ScanRun) -> int | None:
    """The id of the project's last completed run before ``run``."""
    return db.session.scalar(_PREVIOUS_COMPLETED_RUN, _run_params(run))


# Statements built once, with the run as parameters: building them per report (and
# SQLAlchemy computing their cache key) cost more CPU than running them.
_PREVIOUS_COMPLETED_RUN = (
    select(ScanRun.id)
    .where(
        ScanRun.project_id == bindparam("project_id"),
        ScanRun.status == "completed",
        ScanRun.id < bindparam("run_id"),
    )
    .order_by(ScanRun.id.desc())
    .limit(1)
)
_COMPARED_ISSUES = (
    select(ScanRun.id, Issue.fingerprint, Issue.severity, Issue.category, Issue.title)
    .select_from(ScanRun)
    .outerjoin(Issue, Issue.scan_run_id == ScanRun.id)
    .where(
        or_(
            ScanRun.id == bindparam("run_id"),
            ScanRun.id == _PREVIOUS_COMPLETED_RUN.scalar_subquery(),
        )
    )
)


Issues = dict[str, tuple[str, str, str]]  # fingerprint: severity, category, title


def _run_params(run: ScanRun) -> dict[str, int]:
    return {"run_id": run.id, "project_id": run.project_id}


def compared_issues_query(run: ScanRun) -> Select:
    """SELECT run id, fingerprint, severity, category, title of ``run`` and its previous run.

    A run without issues still has one row (its id, then nulls), so the previous run is
    known even when it found nothing.
    """
    return _COMPARED_ISSUES.params(_run_params(run))


def _compared_issues(run: ScanRun) -> tuple[Issues, int | None, Issues]:
    """The run's issues, its previous completed run's id and that run's issues: one query."""
    current: Issues = {}
    before: Issues = {}
    previous_id = None
    for run_id, fingerprint, severity, category, title in db.session.execute(
        _COMPARED_ISSUES, _run_params(run)
    ):
        if run_id != run.id:
            previous_id = run_id
        if fingerprint is not None:
            (current if run_id == run.id else before)[fingerprint] = (severity, category, title)
    return current, previous_id, before


def build_summary(run: ScanRun) -> dict[str, Any]:
    """Severity and category breakdowns, and new / recurring / resolved fingerprints."""
    current, previous_id, before = _compared_issues(run)
    by_severity = Counter(severity for severity, _, _ in current.values())
    by_category = Counter(category for _, category, _ in current.values())
    new = sorted(set(current) - set(before))
    recurring = sorted(set(current) & set(before))
    resolved = sorted(set(before) - set(current))
    return {
        "riskScore": run.counters()["riskScore"],
        "issuesCount": len(current),
        # Every severity is listed (zeros included) so charts keep a stable shape.
        "bySeverity": {severity: by_severity.get(severity, 0) for severity in SEVERITIES},
        "byCategory": {
            category: count
            for category, count in sorted(by_category.items(), key=lambda item: (-item[1], item[0]))
        },
        "previousScanRunId": previous_id,
        "new": new,
        "recurring": recurring,
        "resolved": [
            {
                "fingerprint": fp,
                "severity": before[fp][0],
                "category": before[fp][1],
                "title": before[fp][2],
            }
            for fp in resolved
        ],
        "counts": {"new": len(new), "recurring": len(recurring), "resolved": len(resolved)},
    }
