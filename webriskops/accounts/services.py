"""Self-service administration: tokens, members and invitations, webhooks, projects.

Nothing here knows about HTTP. Tenant checks answer ``None`` for anything outside the
acting user's organizations (the routes turn that into 404, like "does not exist");
rules that refuse a change raise ``Refused`` with a sentence for the person.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from webriskops.auth.passwords import hash_password
from webriskops.auth.session import end_sessions
from webriskops.auth.tokens import issue_token
from webriskops.extensions import db
from webriskops.ingest.fields import is_http_url
from webriskops.models import (
    ROLES,
    ApiToken,
    Invitation,
    Membership,
    Organization,
    Project,
    User,
)
from webriskops.models.base import as_utc, utcnow
from webriskops.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webriskops.vocabulary import is_row_id

log = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)
TOKEN_LIFETIMES_DAYS = (7, 30, 90, 365)


class Refused(ValueError):
    """A change the rules do not allow; the message is meant for the person who asked."""


class LastOwner(Refused):
    """The change would leave an organization without an owner."""


# --- Organizations of the acting user -----------------------------------------------------


@dataclass(frozen=True)
class OrgRole:
    """An organization and the acting user's role in it."""

    organization: Organization
    role: str

    @property
    def is_owner(self) -> bool:
        """True for owners."""
        return self.role == "owner"


def organizations_of(user: User) -> list[OrgRole]:
    """The user's organizations with their role, by name."""
    rows = db.session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name, Organization.id)
    ).all()
    return [OrgRole(org, role) for org, role in rows]


def pick_organization(user: User, org_id: int | None) -> OrgRole | None:
    """The organization a settings page is about: ``org_id`` if the user is in it, else None.

    Without ``org_id``: the first organization the user owns, else the first at all.
    """
    choices = organizations_of(user)
    if org_id is not None:
        return next((c for c in choices if c.organization.id == org_id), None)
    return next((c for c in choices if c.is_owner), choices[0] if choices else None)


# --- API tokens -----------------------------------------------------------------------------


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included, marked as such)."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def create_api_token(user: User, name: str, expires_in_days: int | None) -> tuple[ApiToken, str]:
    """A new named token for ``user``; returns the row and the token, shown once."""
    name = name.strip()
    if not name:
        raise Refused("Give the token a name, so you can tell it apart later.")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row, token = issue_token(user, name=name, expires_at=expires_at)
    db.session.commit()
    log.info("user %s created API token %s", user.id, row.id)
    return row, token


def own_token(user: User, token_id: int) -> ApiToken | None:
    """The token if it belongs to ``user`` (tokens are personal: nobody else's is visible)."""
    if not is_row_id(token_id):
        return None
    return db.session.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    ).first()


def revoke_api_token(token: ApiToken) -> None:
    """Revoke a token: the next request with it gets 401. Revoking twice changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
        log.info("API token %s revoked", token.id)


# --- Members and invitations -------------------------------------------------------------


def members_of(organization: Organization) -> list[tuple[Membership, User]]:
    """The organization's memberships with their users, by email."""
    return list(
        db.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == organization.id)
            .order_by(User.email)
        ).all()
    )


def pending_invitations(organization: Organization) -> list[Invitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.organization_id == organization.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id.desc())
        )
    )


def _invitation_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def normalize_email(email: str) -> str:
    """An email address as accounts store it (trimmed, lower case)."""
    return email.strip().lower()


def invite(
    organization: Organization, inviter: User, email: str, role: str
) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``; returns the invitation and its link token (shown once).

    Inviting the same address again replaces the earlier pending invitation, so only the
    newest link works.
    """
    if role not in ROLES:
        raise Refused("Choose the role owner or member.")
    email = normalize_email(email)
    already = db.session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization.id, User.email == email)
    )
    if already is not None:
        raise Refused(f"{email} is already a member of {organization.name}.")
    now = utcnow()
    for earlier in db.session.scalars(
        select(Invitation).where(
            Invitation.organization_id == organization.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ):
        earlier.revoked_at = now
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organization_id=organization.id,
        email=email,
        role=role,
        token_hash=_invitation_digest(token),
        invited_by_id=inviter.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.commit()
    log.info("user %s invited someone to organization %s", inviter.id, organization.id)
    return invitation, token


def invitation_message(organization: Organization, inviter: User, link: str) -> tuple[str, str]:
    """Subject and body of the invitation email."""
    subject = f"[WebRiskOps] You are invited to {organization.name}"
    body = (
        f"{inviter.email} invited you to the organization {organization.name} on WebRiskOps.\n\n"
        f"Open this link to set your password and join (valid for "
        f"{INVITATION_LIFETIME.days} days, once):\n{link}\n\n"
        "If you did not expect this, ignore this email.\n"
    )
    return subject, body


def usable_invitation(token: str) -> Invitation | None:
    """The invitation of a link token if it is neither used, revoked nor expired."""
    if not token or len(token) > 200:
        return None
    invitation = db.session.scalars(
        select(Invitation).where(Invitation.token_hash == _invitation_digest(token))
    ).first()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return None
    if as_utc(invitation.expires_at) <= utcnow():
        return None
    return invitation


def existing_user(email: str) -> User | None:
    """The user with this email address, if any (addresses are stored normalized)."""
    return db.session.scalars(select(User).where(User.email == normalize_email(email))).first()


def accept_invitation(invitation: Invitation, password: str | None) -> User:
    """Use an invitation once: create the user (with ``password``) or take the existing one.

    An existing account keeps its password (the route has checked it); a new one gets
    ``password``. The invitation row is locked, so two tabs cannot both use it.
    """
    locked = db.session.execute(
        select(Invitation).where(Invitation.id == invitation.id).with_for_update()
    ).scalar_one()
    if locked.accepted_at is not None or locked.revoked_at is not None:
        db.session.rollback()
        raise Refused("This invitation has already been used.")
    user = existing_user(locked.email)
    if user is None:
        if not password:
            raise Refused("Choose a password.")
        user = User(email=locked.email, password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
    elif user.password_hash is None and password:
        user.password_hash = hash_password(password)
    member = db.session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == locked.organization_id
        )
    )
    if member is None:
        db.session.add(
            Membership(user_id=user.id, organization_id=locked.organization_id, role=locked.role)
        )
    locked.accepted_at = utcnow()
    db.session.commit()
    log.info("user %s joined organization %s by invitation", user.id, locked.organization_id)
    return user


def org_invitation(organization: Organization, invitation_id: int) -> Invitation | None:
    """An invitation of this organization, or None."""
    if not is_row_id(invitation_id):
        return None
    return db.session.scalars(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.organization_id == organization.id
        )
    ).first()


def revoke_invitation(invitation: Invitation) -> None:
    """Withdraw a pending invitation; its link stops working."""
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        db.session.commit()


def membership_for(user: User, membership_id: int) -> Membership | None:
    """A membership of an organization ``user`` belongs to, or None (another org's: None)."""
    if not is_row_id(membership_id):
        return None
    return db.session.scalars(
        select(Membership).where(
            Membership.id == membership_id,
            Membership.organization_id.in_(
                select(Membership.organization_id).where(Membership.user_id == user.id)
            ),
        )
    ).first()


def _lock_owners(organization_id: int) -> int:
    """Lock the organization's row and count its owners.

    The lock serializes role changes and removals within one organization, so two owners
    demoting each other at the same moment cannot both succeed and leave none.
    """
    db.session.execute(
        select(Organization.id).where(Organization.id == organization_id).with_for_update()
    )
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == organization_id, Membership.role == "owner")
    )


def change_role(membership: Membership, role: str) -> bool:
    """Give a member another role; returns whether it changed. The last owner stays owner."""
    if role not in ROLES:
        raise Refused("Choose the role owner or member.")
    owners = _lock_owners(membership.organization_id)
    db.session.refresh(membership)
    if membership.role == role:
        db.session.rollback()
        return False
    if membership.role == "owner" and owners <= 1:
        db.session.rollback()
        raise LastOwner("An organization needs at least one owner: make someone else owner first.")
    membership.role = role
    db.session.commit()
    log.info("membership %s is now %s", membership.id, role)
    return True


def remove_member(membership: Membership) -> None:
    """Remove someone from an organization (never its last owner), ending their access."""
    owners = _lock_owners(membership.organization_id)
    db.session.refresh(membership)
    if membership.role == "owner" and owners <= 1:
        db.session.rollback()
        raise LastOwner(
            "An organization needs at least one owner: the last owner cannot be removed."
        )
    user_id, organization_id = membership.user_id, membership.organization_id
    db.session.delete(membership)
    db.session.commit()
    end_sessions(user_id)  # their browser sessions end at once, everywhere
    log.info("user %s removed from organization %s", user_id, organization_id)


# --- Webhooks ------------------------------------------------------------------------------


def endpoints_of(organization: Organization) -> list[WebhookEndpoint]:
    """The organization's webhook endpoints, oldest first."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == organization.id)
            .order_by(WebhookEndpoint.id)
        )
    )


def visible_endpoint(user: User, endpoint_id: int) -> WebhookEndpoint | None:
    """An endpoint of one of ``user``'s organizations, or None."""
    if not is_row_id(endpoint_id):
        return None
    return db.session.scalars(
        select(WebhookEndpoint)
        .join(Membership, Membership.organization_id == WebhookEndpoint.organization_id)
        .where(WebhookEndpoint.id == endpoint_id, Membership.user_id == user.id)
    ).first()


def visible_delivery(user: User, delivery_id: int) -> WebhookDelivery | None:
    """A delivery to an endpoint of one of ``user``'s organizations, or None."""
    if not is_row_id(delivery_id):
        return None
    return db.session.scalars(
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Membership, Membership.organization_id == WebhookEndpoint.organization_id)
        .where(WebhookDelivery.id == delivery_id, Membership.user_id == user.id)
    ).first()


DELIVERIES_SHOWN = 50


def deliveries_of(endpoint: WebhookEndpoint) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """The endpoint's latest deliveries, newest first, each with its attempts in order."""
    deliveries = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(DELIVERIES_SHOWN)
        )
    )
    attempts: dict[int, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(delivery, attempts[delivery.id]) for delivery in deliveries]


# --- Projects ------------------------------------------------------------------------------


def create_project(organization: Organization, name: str, base_url: str) -> Project:
    """A new project of ``organization``; blank names and non-http(s) URLs are refused."""
    name, base_url = name.strip(), base_url.strip()
    if not name:
        raise Refused("Give the project a name.")
    if len(name) > 200:
        raise Refused("The name must be at most 200 characters.")
    if len(base_url) > 2048 or not is_http_url(base_url):
        raise Refused("The base URL must be an absolute http or https URL.")
    project = Project(organization_id=organization.id, name=name, base_url=base_url)
    db.session.add(project)
    db.session.commit()
    log.info("project %s created in organization %s", project.id, organization.id)
    return project
