"""Projects: the websites an organization scans."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webriskops.extensions import db
from webriskops.models.base import BigId, Timestamp, utcnow


class Project(db.Model):
    """A website of an organization."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="projects")  # noqa: F821
