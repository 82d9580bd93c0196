"""Triage: what a project's team decided about a finding, kept per project and fingerprint.

A finding's fingerprint is stable across runs, so a decision made once (a false
positive, an accepted risk) applies to every later run of the project that reports the
same fingerprint. A fingerprint without a row is ``open``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webriskops.extensions import db
from webriskops.models.base import BigId, Timestamp, utcnow

TRIAGE_STATES = ("open", "false_positive", "accepted_risk")
TRIAGE_LABELS = {
    "open": "Open",
    "false_positive": "False positive",
    "accepted_risk": "Accepted risk",
}
MAX_REASON = 2000


class TriageState(db.Model):
    """The triage decision of one fingerprint in one project: state, reason, who and when."""

    __tablename__ = "triage_states"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint"),
        CheckConstraint("state IN ('open', 'false_positive', 'accepted_risk')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    # Who decided: a user (signed in, or the owner of the API token used). Kept as an
    # email too, so the history still says who it was after the user is removed.
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    updated_by_email: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    updated_by: Mapped[User | None] = relationship()  # noqa: F821
