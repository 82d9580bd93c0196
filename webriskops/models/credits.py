"""The scan-credit ledger.

Every change to an organization's balance is a ledger row. A run can be reserved
once (``reserves_run_id`` is unique) and settled once (``settles_run_id`` is unique,
shared by the ``consume`` and ``restore`` entries), so "settled exactly once" is a
database guarantee that holds whatever a retry or a race does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, bindparam, insert, update
from sqlalchemy.orm import Mapped, mapped_column

from webriskops.extensions import db
from webriskops.models.accounts import Organization
from webriskops.models.base import BigId, Timestamp, utcnow


class InsufficientCredits(Exception):
    """The organization has no available credit to reserve."""


class CreditEntry(db.Model):
    """One movement of scan credits."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("kind IN ('grant', 'reserve', 'consume', 'restore')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column()
    reserves_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="CASCADE"), unique=True
    )
    settles_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


def create_organization(name: str, credits: int = 0) -> Organization:
    """Add an organization whose starting balance is a ledger grant (not committed)."""
    organization = Organization(name=name, credits=0, reserved_credits=0)
    db.session.add(organization)
    db.session.flush()
    if credits:
        grant_credits(organization, credits)
    return organization


def grant_credits(organization: Organization, amount: int) -> None:
    """Add credits to an organization's balance."""
    db.session.add(CreditEntry(organization_id=organization.id, kind="grant", amount=amount))
    db.session.execute(
        update(Organization)
        .where(Organization.id == organization.id)
        .values(credits=Organization.credits + amount)
    )


def reserve_credit(organization_id: int, scan_run_id: int) -> None:
    """Move one available credit to reserved for a new run, or raise InsufficientCredits."""
    moved = db.session.execute(
        update(Organization)
        .where(Organization.id == organization_id, Organization.credits >= 1)
        .values(
            credits=Organization.credits - 1, reserved_credits=Organization.reserved_credits + 1
        )
    ).rowcount
    if moved != 1:
        raise InsufficientCredits(organization_id)
    db.session.add(
        CreditEntry(
            organization_id=organization_id, kind="reserve", amount=-1, reserves_run_id=scan_run_id
        )
    )


# The settlement's statements, built once (``settle_credit`` runs on every postback).
_ORGANIZATIONS = Organization.__table__
_SETTLE = insert(CreditEntry.__table__)
_CONSUMED = (
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("org_id"))
    .values(reserved_credits=_ORGANIZATIONS.c.reserved_credits - 1)
)
_RESTORED = _CONSUMED.values(credits=_ORGANIZATIONS.c.credits + 1)


def settle_credit(organization_id: int, scan_run_id: int, *, consumed: bool) -> None:
    """Consume (completed run) or restore (failed run) the credit a run reserved.

    The ledger row goes first: a second settlement of the same run violates the unique
    ``settles_run_id`` and the whole transaction fails before any total moves. Plain
    table statements, built once, on the session's connection: this runs once per
    postback, and nothing here needs the ORM's unit of work.
    """
    connection = db.session.connection()
    connection.execute(
        _SETTLE,
        {
            "organization_id": organization_id,
            "kind": "consume" if consumed else "restore",
            "amount": 0 if consumed else 1,
            "settles_run_id": scan_run_id,
        },
    )
    connection.execute(_CONSUMED if consumed else _RESTORED, {"org_id": organization_id})
