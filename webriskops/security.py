"""App-wide request and response rules: security headers and CSRF.

Registered once in ``create_app`` for every blueprint:

- Response headers: a strict Content-Security-Policy on HTML pages (artifacts set a
  sandbox policy of their own), ``X-Frame-Options``, ``Referrer-Policy``,
  ``X-Content-Type-Options`` everywhere, ``Strict-Transport-Security`` in production,
  and no caching of pages shown to a logged-in user.
- CSRF, one rule: every unsafe request is checked except those under ``/api/``, which
  authenticate with a bearer token or the scanner secret and never with the session
  cookie, so another site has nothing to forge.

``X-Forwarded-For`` is read by werkzeug's ``ProxyFix`` (``create_app``), which believes
only the last ``WRO_TRUSTED_PROXIES`` entries: the address our own router saw. Entries
before them come from the client or from its own proxies; they are ignored, not refused,
so a customer behind a corporate proxy gets in and nobody chooses the address login
throttling counts.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from webriskops.auth.session import current_user
from webriskops.extensions import csrf

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_EXEMPT_PREFIX = "/api/"


def init_app(app: Flask) -> None:
    """Install the checks and headers on ``app``."""
    # Checked below with one rule instead of per-view exemptions.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def check_csrf() -> None:
        if request.method in SAFE_METHODS or request.path.startswith(CSRF_EXEMPT_PREFIX):
            return
        if request.endpoint is None:
            return  # no such route or method: the 404 or 405 (with Allow) says more
        csrf.protect()

    @app.after_request
    def security_headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if current_user() is not None:
                response.headers["Cache-Control"] = "private, no-store"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if hsts := current_app.config.get("HSTS_SECONDS"):
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={hsts}; includeSubDomains"
            )
        return response
