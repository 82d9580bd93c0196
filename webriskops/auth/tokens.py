"""Personal API tokens: shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from flask import g, request
from sqlalchemy import select

from webriskops.errors import ApiError
from webriskops.extensions import db
from webriskops.models import ApiToken, User

TOKEN_PREFIX = "wro_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """The digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(user: User) -> str:
    """Create a token for ``user`` and return it; only its digest is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:10]))
    return token


def user_for_token(token: str) -> User | None:
    """The user a token belongs to, or None."""
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    return row.user if row else None


def require_api_user() -> User:
    """The user of the request's bearer token, or a 401 error."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "Missing or invalid bearer token. Send Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": 'Bearer realm="webriskops"'},
        )
    g.api_user = user
    return user
