"""Idempotency records for scanner postbacks (section 3.6).

A key is claimed in a short transaction of its own (``state='processing'``) so that a
concurrent request with the same key sees it and answers 409; the postback's own
transaction then stores the response and marks it ``completed``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webriskops.extensions import db
from webriskops.models.base import Timestamp, utcnow


class IdempotencyRecord(db.Model):
    """The first request made with an ``Idempotency-Key`` and the answer it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("state IN ('processing', 'completed')", name="state_known"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="processing")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    locked_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
