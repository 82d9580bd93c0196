"""The outbox: background work recorded in the same transaction as the change that needs it.

A row is written with the postback; after commit it is handed to the queue (or run
in-process without Redis). The sweeper hands over whatever is still pending, so a
queue outage delays work but never loses it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
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
