"""The secret redaction engine: a plain module, no Flask.

``redact(text)`` applies every text rule; ``redact_url`` and ``redact_headers`` handle
URLs and HTTP headers; ``holds_token(text)`` says whether a secret that shows by its
own shape is in ``text`` (for fields stored as sent). ``Redactor(literal_secrets)``
also replaces exact strings (the configured scanner secrets) wherever they appear.
Markers name the kind: ``[REDACTED:aws_access_key_id]``. Redacting twice changes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from webriskops.redaction.engine import Redactor, holds_token, marker
from webriskops.redaction.rules import RULES

_default = Redactor()


def redact(text: str) -> str:
    """Replace every secret in ``text``."""
    return _default.redact(text)


def redact_url(url: str) -> str:
    """Replace the password and secret-looking query values of a URL."""
    return _default.redact_url(url)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Replace credentials, cookies and secret-named header values."""
    return _default.redact_headers(headers)


__all__ = ["RULES", "Redactor", "holds_token", "marker", "redact", "redact_headers", "redact_url"]
