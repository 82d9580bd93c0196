"""The scanner's shared secret (constant-time check with rotation) and its rate limit."""

from __future__ import annotations

import hmac

from flask import current_app, g, request

from webriskops.errors import ApiError
from webriskops.ratelimit import scanner_limiter

HEADER = "X-Scanner-Secret"


def configured_secrets() -> list[str]:
    """The secrets a scanner may present: the current one and, during a rotation, the previous."""
    config = current_app.config
    return [
        secret
        for secret in (config["SCANNER_SHARED_SECRET"], config["SCANNER_SHARED_SECRET_PREVIOUS"])
        if secret
    ]


def authenticate_scanner() -> str:
    """Check ``X-Scanner-Secret``; return which secret matched, or raise 401.

    Every configured secret is compared (no early exit) with ``hmac.compare_digest`` so
    the time taken says nothing about which one, or how much of one, matched.
    """
    presented = request.headers.get(HEADER, "").encode("utf-8", "surrogateescape")
    matched = None
    for name, secret in zip(("current", "previous"), configured_secrets(), strict=False):
        if hmac.compare_digest(presented, secret.encode()) and matched is None:
            matched = name
    if not presented or matched is None:
        raise ApiError(
            401,
            "UNAUTHORIZED",
            f"Missing or invalid {HEADER}. Send the scanner shared secret configured "
            "as WRO_SCANNER_SHARED_SECRET.",
        )
    return matched


def admit_scanner() -> str:
    """Authenticate the scanner, then count the request against its rate limit.

    Every scanner endpoint (results, claim, heartbeat) starts with this, in the
    contract's order: a 401 carries only ``RateLimit-Policy``, everything after the
    secret checked out carries ``RateLimit`` too (set on ``g``, added to the response by
    the ingest blueprint's after-request hook), and a refusal is a 429 with
    ``Retry-After``. Returns which secret matched.
    """
    limiter = scanner_limiter(current_app)
    g.rate_limit_headers = {"RateLimit-Policy": limiter.policy}
    credential = authenticate_scanner()
    state = limiter.hit(f"scanner:{credential}")
    g.rate_limit_headers = state.headers(limiter.policy)
    if not state.allowed:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Too many scanner requests. Retry after {state.reset_seconds} seconds.",
            headers={"Retry-After": g.rate_limit_headers["Retry-After"]},
        )
    return credential
