"""Standard Webhooks 1.0 signatures: ``whsec_`` secrets and ``v1,<base64 HMAC-SHA256>``.

The signed content is ``"<webhook-id>.<webhook-timestamp>.<body>"`` and the key is the
base64-decoded part of the secret after ``whsec_``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32
# Receivers reject messages whose timestamp is further than this from their clock.
TOLERANCE_SECONDS = 5 * 60


class InvalidSignature(ValueError):
    """The signature, timestamp or secret of a message does not check out."""


def generate_secret() -> str:
    """A new random signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSignature("the secret must start with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise InvalidSignature("the secret is not base64 after whsec_") from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict:
    """The three Standard Webhooks headers of one attempt (the timestamp is the attempt's)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(secret: str, headers: dict, body: bytes, *, now: float | None = None) -> None:
    """Check a received message as a receiver would; raises ``InvalidSignature``.

    ``webhook-signature`` may carry several space-separated signatures (during a secret
    rotation); one matching ``v1`` signature is enough.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        received = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("the message timestamp is outside the tolerance")
    expected = sign(secret, message_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in received):
        raise InvalidSignature("no matching signature")
