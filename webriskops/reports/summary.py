"""The report of a completed run: totals, breakdowns and the comparison with the previous run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from webriskops.extensions import db
from webriskops.models import Issue, ScanRun


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


def _fingerprints(run_id: int) -> dict[str, tuple[str, str]]:
    rows = db.session.execute(
        select(Issue.fingerprint, Issue.severity, Issue.title).where(Issue.scan_run_id == run_id)
    )
    return {fingerprint: (severity, title) for fingerprint, severity, title in rows}


def build_summary(run: ScanRun) -> dict[str, Any]:
    """Severity and category breakdowns, and new / recurring / resolved fingerprints."""
    issues = db.session.execute(
        select(Issue.severity, Issue.category).where(Issue.scan_run_id == run.id)
    ).all()
    current = _fingerprints(run.id)
    previous = previous_completed_run(run)
    before = _fingerprints(previous.id) if previous else {}
    return {
        "riskScore": run.counters()["riskScore"],
        "bySeverity": dict(Counter(severity for severity, _ in issues)),
        "byCategory": dict(Counter(category for _, category in issues)),
        "previousScanRunId": previous.id if previous else None,
        "new": sorted(set(current) - set(before)),
        "recurring": sorted(set(current) & set(before)),
        "resolved": [
            {"fingerprint": fp, "severity": before[fp][0], "title": before[fp][1]}
            for fp in sorted(set(before) - set(current))
        ],
    }
