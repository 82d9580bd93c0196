"""Personal API tokens: shown once, stored only as a SHA-256 digest.

A token may expire and may be revoked; either way the next request with it gets 401,
because every lookup checks both. ``last_used_at`` is written at most once a minute per
token (one conditional ``UPDATE``), so a busy integration does not turn every read into
a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import g, request
from sqlalchemy import or_, select, update

from webriskops.errors import ApiError
from webriskops.extensions import db
from webriskops.models import ApiToken, User
from webriskops.models.base import as_utc, utcnow

TOKEN_PREFIX = "wro_"  # noqa: S105 - a prefix, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def issue_token(
    user: User, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the token (only its digest is kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        prefix=token[:10],
        name=name,
        expires_at=expires_at,
    )
    db.session.add(row)
    return row, token


def create_token(user: User) -> str:
    """Create an unnamed token for ``user`` and return it; only its digest is kept."""
    return issue_token(user)[1]


def is_usable(row: ApiToken, now: datetime | None = None) -> bool:
    """True when the token is neither revoked nor expired."""
    now = now or utcnow()
    if row.revoked_at is not None:
        return False
    return row.expires_at is None or as_utc(row.expires_at) > now


def token_for(token: str) -> ApiToken | None:
    """The usable (not revoked, not expired) token row for a presented token, or None."""
    now = utcnow()
    return db.session.execute(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    ).scalar_one_or_none()


def user_for_token(token: str) -> User | None:
    """The user a usable token belongs to, or None."""
    row = token_for(token)
    return row.user if row else None


def mark_used(row: ApiToken) -> None:
    """Record that ``row`` was used now, unless that was already recorded within a minute.

    The ``WHERE`` makes concurrent requests race harmlessly: one of them writes, the
    others match no row. Committed on its own, before the request does any work.
    """
    now = utcnow()
    if row.last_used_at is not None and now - as_utc(row.last_used_at) < LAST_USED_RESOLUTION:
        return
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == row.id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def require_api_user() -> User:
    """The user of the request's bearer token, or a 401 error."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    row = token_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if row is None:
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "Missing or invalid bearer token. Send Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="webriskops"'},
        )
    user = row.user
    mark_used(row)
    g.api_user = user
    g.api_token_id = row.id
    return user
