"""The outbox: background work recorded in the same transaction as the change that needs it.

A row is written with the postback; after commit it is handed to the queue (or run
in-process without Redis). The sweeper hands over whatever is still pending, so a
queue outage delays work but never loses it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webriskops.extensions import db
from webriskops.models.base import BigId, Json, Timestamp, utcnow


class OutboxJob(db.Model):
    """One unit of after-commit work: a job name and the ids it needs (never payloads)."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'enqueued', 'done', 'failed')", name="state_known"),
        Index("ix_outbox_jobs_state_available_at", "state", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)  # of the latest attempt
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)


# Upper bounds (seconds) of the job duration histogram's buckets (``GET /metrics``).
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)


NO_DURATION = -1  # the bucket of jobs without a recorded start: counted, not timed


def duration_bucket(seconds: float) -> int:
    """The index of the first bucket that holds ``seconds`` (``len(DURATION_BUCKETS)``: +Inf)."""
    return next(
        (index for index, bound in enumerate(DURATION_BUCKETS) if seconds <= bound),
        len(DURATION_BUCKETS),
    )


class OutboxJobTotal(db.Model):
    """Done outbox jobs folded out of ``outbox_jobs`` once old (``outbox.prune``).

    One row per task and duration bucket: how many jobs and their seconds in all, so
    ``/metrics`` counters keep counting after the rows themselves are gone.
    """

    __tablename__ = "outbox_job_totals"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
