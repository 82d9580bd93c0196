"""Customer login and logout (``GET/POST /login``, ``POST /logout``)."""

from __future__ import annotations

import logging

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from webriskops.auth import bp, throttle
from webriskops.auth.forms import LoginForm
from webriskops.auth.passwords import hash_password, needs_rehash, verify_password
from webriskops.auth.session import current_user, log_in, log_out, safe_next
from webriskops.extensions import db
from webriskops.models import User

log = logging.getLogger(__name__)

# Verified when the email is unknown, so a wrong email takes as long as a wrong password
# and the answer time does not reveal who has an account.
_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("not-a-real-password"))
    return _DUMMY_HASH[0]


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None (same work either way)."""
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    """Show the login form and log a customer in."""
    next_url = safe_next(request.args.get("next"))
    if current_user() is not None and request.method == "GET":
        return redirect(next_url or url_for("reports.projects"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        address = request.remote_addr or "-"
        limiter = throttle.login_throttle()
        try:
            wait = limiter.retry_after(email, address)
        except throttle.ThrottleUnavailable:
            return _throttle_unavailable(form, next_url)
        if wait:
            log.warning("login throttled for an address")
            message = f"Too many failed attempts. Wait {wait} seconds, then try again."
            html = render_template("auth/login.html", form=form, next=next_url, error=message)
            return html, 429, {"Retry-After": str(wait)}
        user = authenticate(email, form.password.data or "")
        if user is None:
            try:
                limiter.failed(email, address)
            except throttle.ThrottleUnavailable:
                return _throttle_unavailable(form, next_url)
            message = "The email or password is not correct."
            return render_template("auth/login.html", form=form, next=next_url, error=message), 401
        limiter.succeeded(email, address)
        log_in(user)
        log.info("user %s logged in", user.id)
        return redirect(next_url or url_for("reports.projects"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, next=next_url, error=None), status


def _throttle_unavailable(form: LoginForm, next_url: str | None) -> tuple[str, int, dict]:
    # Failed attempts cannot be counted: refusing is safer than unlimited guessing.
    message = (
        "Login is briefly unavailable. Wait "
        f"{throttle.UNAVAILABLE_RETRY_AFTER} seconds, then try again."
    )
    html = render_template("auth/login.html", form=form, next=next_url, error=message)
    return html, 503, {"Retry-After": str(throttle.UNAVAILABLE_RETRY_AFTER)}


@bp.post("/logout")
def logout() -> Response:
    """End the session (POST, and CSRFProtect checks the token before this view runs)."""
    log_out()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.app_context_processor
def _inject_user() -> dict:
    return {"current_user": current_user}
