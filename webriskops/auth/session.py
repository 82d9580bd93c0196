"""The browser session: who is logged in, the login-required guard and safe redirects.

The session cookie (signed, HttpOnly, SameSite, Secure outside development) holds the
user id and a short digest of the password hash, so changing a password ends every
other session of that user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import has_request_context, redirect, request, session, url_for

from webriskops.extensions import db
from webriskops.models import User

F = TypeVar("F", bound=Callable[..., Any])
_CACHE = "webriskops.user"


def _password_version(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def log_in(user: User) -> None:
    """Start a fresh session for ``user`` (a new session, so a planted one is never reused)."""
    session.clear()
    request.environ.pop(_CACHE, None)
    session["uid"] = user.id
    session["pwv"] = _password_version(user)


def log_out() -> None:
    """End the session."""
    session.clear()
    request.environ.pop(_CACHE, None)


def current_user() -> User | None:
    """The logged-in user of this request, or None."""
    if not has_request_context():
        return None
    # Cached per request (not on ``g``, which an outer app context may share).
    if _CACHE in request.environ:
        return request.environ[_CACHE]
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        user = db.session.get(User, uid)
        if user is not None and session.get("pwv") != _password_version(user):
            user = None
    request.environ[_CACHE] = user
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
