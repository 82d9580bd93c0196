"""The browser session: who is logged in, the login-required guard and safe redirects.

The session cookie (signed, HttpOnly, SameSite, Secure outside development) holds a
random session id whose digest is a row of ``user_sessions``, and a short digest of
the password hash. A session works only while its row exists and is younger than
``SESSION_MAX_SECONDS`` and was used within ``SESSION_IDLE_SECONDS``: logout deletes
the row, ``end_sessions`` deletes every row of a user (password change, removal from
an organization), and a changed password hash ends sessions even where nobody called
it. Each request costs one primary-key lookup (joined with the user); the last-seen
time is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, has_request_context, redirect, request, session, url_for
from sqlalchemy import bindparam, delete, or_, select, update

from webriskops.extensions import db
from webriskops.models import User, UserSession
from webriskops.models.base import as_utc, utcnow

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_CACHE = "webriskops.user"
# The last-seen time is written at most this often per session (the idle lifetime is
# counted in hours; a write per request would cost more than the lookup).
TOUCH_INTERVAL = timedelta(seconds=60)


def _password_version(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _lifetimes() -> tuple[timedelta, timedelta]:
    config = current_app.config
    return (
        timedelta(seconds=config["SESSION_IDLE_SECONDS"]),
        timedelta(seconds=config["SESSION_MAX_SECONDS"]),
    )


def log_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new session, so a planted one is never reused)."""
    _end_current()
    session.clear()
    request.environ.pop(_CACHE, None)
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    idle, lifetime = _lifetimes()
    # The user's sessions that ended by themselves go now, so the table stays small.
    db.session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id,
            or_(UserSession.last_seen_at < now - idle, UserSession.created_at < now - lifetime),
        )
    )
    db.session.add(
        UserSession(id_hash=_digest(session_id), user_id=user.id, created_at=now, last_seen_at=now)
    )
    db.session.commit()
    session["sid"] = session_id
    session["pwv"] = _password_version(user)


def log_out() -> None:
    """End the session, on the server too: a copy of the cookie no longer works."""
    _end_current()
    session.clear()
    request.environ.pop(_CACHE, None)


def end_sessions(user_id: int) -> int:
    """End every session of a user (password change, removal from an organization).

    Commits, and returns how many sessions ended.
    """
    ended = db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    db.session.commit()
    if has_request_context():
        request.environ.pop(_CACHE, None)
    log.info("ended %s session(s) of user %s", ended.rowcount, user_id)
    return ended.rowcount


def _end_current() -> None:
    session_id = session.get("sid")
    if isinstance(session_id, str):
        db.session.execute(delete(UserSession).where(UserSession.id_hash == _digest(session_id)))
        db.session.commit()


_LOOKUP = (
    select(User, UserSession.created_at, UserSession.last_seen_at)
    .join(UserSession, UserSession.user_id == User.id)
    .where(UserSession.id_hash == bindparam("id_hash"))
)


def current_user() -> User | None:
    """The logged-in user of this request, or None."""
    if not has_request_context():
        return None
    # Cached per request (not on ``g``, which an outer app context may share).
    if _CACHE in request.environ:
        return request.environ[_CACHE]
    user = None
    session_id = session.get("sid")
    if isinstance(session_id, str):
        user = _session_user(_digest(session_id))
    request.environ[_CACHE] = user
    return user


def _session_user(id_hash: str) -> User | None:
    row = db.session.execute(_LOOKUP, {"id_hash": id_hash}).first()
    if row is None:
        return None
    user, created_at, last_seen_at = row
    now = utcnow()
    idle, lifetime = _lifetimes()
    if (
        as_utc(last_seen_at) < now - idle
        or as_utc(created_at) < now - lifetime
        or session.get("pwv") != _password_version(user)
    ):
        db.session.execute(delete(UserSession).where(UserSession.id_hash == id_hash))
        db.session.commit()
        return None
    # Only when nothing else is pending, so the write never commits a view's work early.
    if as_utc(last_seen_at) < now - TOUCH_INTERVAL and not (
        db.session.new or db.session.dirty or db.session.deleted
    ):
        db.session.execute(
            update(UserSession).where(UserSession.id_hash == id_hash).values(last_seen_at=now)
        )
        db.session.commit()
    return user


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a relative path on this site, else None (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    # "//host" and "/\host" are protocol-relative to browsers; control characters can
    # smuggle a second line or a scheme past naive checks.
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 or c == "\x7f" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def login_required(view: F) -> F:
    """Redirect to the login page (with ``next``) when nobody is logged in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            here = request.path
            if request.query_string:
                here += "?" + request.query_string.decode("latin-1")
            # Coming back after login only makes sense for pages one can GET.
            target = here if request.method == "GET" else None
            return redirect(url_for("auth.login", next=safe_next(target)))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
