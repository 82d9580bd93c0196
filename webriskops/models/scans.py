"""Scan runs and what a scanner reports for them: pages, artifacts, issues, occurrences."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webriskops.extensions import db
from webriskops.models.base import BigId, Json, Timestamp, utcnow

TERMINAL_STATUSES = frozenset({"completed", "failed"})
RUN_STATUSES = ("queued", "running", "completed", "failed")
CREDIT_STATES = ("reserved", "consumed", "restored")
REPORT_STATUSES = ("pending", "ready", "failed")


class ScanRun(db.Model):
    """One scan attempt of a project."""

    __tablename__ = "scan_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')", name="status_known"
        ),
        CheckConstraint(
            "credit_state IN ('reserved', 'consumed', 'restored')", name="credit_state_known"
        ),
        Index("ix_scan_runs_project_id_id", "project_id", "id"),
        # A report compares with the project's previous completed run: without status in
        # the index, that walked every later run of the project (or of every project).
        Index("ix_scan_runs_project_id_status_id", "project_id", "status", "id"),
        # Claims take the oldest queued runs; sweeps look at the non-terminal ones.
        Index("ix_scan_runs_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    credit_state: Mapped[str] = mapped_column(String(16), default="reserved")

    pages_scanned: Mapped[int | None] = mapped_column(Integer)
    issues_count: Mapped[int | None] = mapped_column(Integer)
    high_count: Mapped[int | None] = mapped_column(Integer)
    medium_count: Mapped[int | None] = mapped_column(Integer)
    low_count: Mapped[int | None] = mapped_column(Integer)
    risk_score: Mapped[float | None] = mapped_column(Float)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_url: Mapped[str | None] = mapped_column(Text)
    error_timeout_ms: Mapped[int | None] = mapped_column(Integer)

    # Dispatch (API.md 3.9): the attempt a scanner works on (1 until a lease expires), and
    # while ``running`` the lease that scanner holds and how long each heartbeat extends it.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)

    report_status: Mapped[str | None] = mapped_column(String(16))
    report_summary: Mapped[dict | None] = mapped_column(Json)
    report_generated_at: Mapped[datetime | None] = mapped_column(Timestamp)

    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship()  # noqa: F821
    pages: Mapped[list[ScanPage]] = relationship(
        back_populates="scan_run", order_by="ScanPage.position"
    )
    issues: Mapped[list[Issue]] = relationship(back_populates="scan_run", order_by="Issue.id")

    @property
    def is_terminal(self) -> bool:
        """True once the run is completed or failed; nothing may change it after that."""
        return self.status in TERMINAL_STATUSES

    def counters(self) -> dict[str, int | float | None]:
        """The run's counters as the API names them."""
        return api_counters({column: getattr(self, column) for column in COUNTER_COLUMNS})


# The counter columns of ``scan_runs`` and the names the API gives them.
COUNTER_COLUMNS = {
    "pages_scanned": "pagesScanned",
    "issues_count": "issuesCount",
    "high_count": "highCount",
    "medium_count": "mediumCount",
    "low_count": "lowCount",
    "risk_score": "riskScore",
}


def api_counters(columns: Mapping[str, Any]) -> dict[str, int | float | None]:
    """Counters as the API names them, from a run's column values (an object's or a row's)."""
    counters = {name: columns[column] for column, name in COUNTER_COLUMNS.items()}
    score = counters["riskScore"]
    if score is not None and float(score).is_integer():
        counters["riskScore"] = int(score)
    return counters


class ScanPage(db.Model):
    """One tested URL of a run."""

    __tablename__ = "scan_pages"
    __table_args__ = (UniqueConstraint("scan_run_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    normalized_url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer)
    page_type: Mapped[str] = mapped_column(String(32))
    response_headers: Mapped[dict] = mapped_column(Json)
    title: Mapped[str | None] = mapped_column(Text)
    console_errors_count: Mapped[int | None] = mapped_column(Integer)
    network_errors_count: Mapped[int | None] = mapped_column(Integer)
    load_time_ms: Mapped[int | None] = mapped_column(Integer)
    screenshot_path: Mapped[str] = mapped_column(String(512))
    html_snapshot_path: Mapped[str | None] = mapped_column(String(512))

    scan_run: Mapped[ScanRun] = relationship(back_populates="pages")


class Artifact(db.Model):
    """A storage key of a screenshot or HTML snapshot that a run references."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("scan_run_id", "storage_key"),
        CheckConstraint(
            "kind IN ('screenshot', 'html_snapshot', 'issue_screenshot')", name="kind_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"))
    scan_page_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan_pages.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    storage_key: Mapped[str] = mapped_column(String(512))
    # Set by the snapshot redaction job once the stored HTML holds no secrets.
    redacted_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Issue(db.Model):
    """A finding of a run, unique per run by fingerprint."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("scan_run_id", "fingerprint"),
        # The scan detail and report filter a run's findings by severity or category.
        Index("ix_issues_scan_run_id_severity", "scan_run_id", "severity"),
        Index("ix_issues_scan_run_id_category", "scan_run_id", "category"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    confidence: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text)
    business_impact: Mapped[str | None] = mapped_column(Text)
    suggested_remediation: Mapped[str | None] = mapped_column(Text)
    reproduction_steps: Mapped[list | None] = mapped_column(Json)
    screenshot_path: Mapped[str | None] = mapped_column(String(512))

    scan_run: Mapped[ScanRun] = relationship(back_populates="issues")
    occurrences: Mapped[list[IssueOccurrence]] = relationship(
        back_populates="issue", order_by="IssueOccurrence.id"
    )


class IssueOccurrence(db.Model):
    """One page on which an issue was seen."""

    __tablename__ = "issue_occurrences"
    __table_args__ = (UniqueConstraint("issue_id", "scan_page_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    scan_page_id: Mapped[int] = mapped_column(
        ForeignKey("scan_pages.id", ondelete="CASCADE"), index=True
    )

    issue: Mapped[Issue] = relationship(back_populates="occurrences")
    scan_page: Mapped[ScanPage] = relationship()
