"""The scanner's shared secret: constant-time check with rotation."""

from __future__ import annotations

import hmac

from flask import current_app, request

from webriskops.errors import ApiError

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
