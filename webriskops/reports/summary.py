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

from sqlalchemy import select

from webriskops.extensions import db
from webriskops.models import Issue, ScanRun
from webriskops.vocabulary import SEVERITIES


def previous_completed_run(run: ScanRun) -> ScanRun | None:
    """The project's last completed run before ``run``."""
    return db.session.scalars(
        select(ScanRun)
        .where(
            ScanRun.project_id == run.project_id,
            ScanRun.status == "completed",
            ScanRun.id < run.id,
        )
        .order_by(ScanRun.id.desc())
        .limit(1)
    ).first()


def _issues(run_id: int) -> dict[str, tuple[str, str, str]]:
    rows = db.session.execute(
        select(Issue.fingerprint, Issue.severity, Issue.category, Issue.title).where(
            Issue.scan_run_id == run_id
        )
    )
    return {fp: (severity, category, title) for fp, severity, category, title in rows}


def build_summary(run: ScanRun) -> dict[str, Any]:
    """Severity and category breakdowns, and new / recurring / resolved fingerprints."""
    current = _issues(run.id)
    previous = previous_completed_run(run)
    before = _issues(previous.id) if previous else {}
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
        "previousScanRunId": previous.id if previous else None,
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
