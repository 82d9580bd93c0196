"""Strict marshmallow fields for scanner payloads.

JSON from a scanner is untrusted: booleans are not integers, ``1.0`` is not an
integer, and strings must be storable (no NUL, no lone surrogates) by every database
we run on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ARTIFACT_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")
_INLINE_HINT = re.compile(r"^\s*(?:data:|<|[a-z][a-z0-9+.-]*://)|base64,", re.I)
_LOOKS_BASE64 = re.compile(r"^[A-Za-z0-9+/]{200,}={0,2}$")
ARTIFACT_MESSAGE = (
    "Artifacts must be storage paths (for example scan-runs/<scanRunId>/shot.png), "
    "not URLs, data: URIs, base64 bytes or inline HTML."
)


class StrictInteger(fields.Integer):
    """An integer that is a JSON integer: no booleans, floats or numeric strings."""

    default_error_messages = {"invalid": "Must be an integer (not a string, float or boolean)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class StrictNumber(fields.Float):
    """A JSON number (integer or float), never a boolean or a string."""

    default_error_messages = {"invalid": "Must be a number."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return float(value)


class Text(fields.String):
    """A string that any database can store: no NUL characters and no lone surrogates."""

    default_error_messages = {
        "invalid": "Must be a string.",
        "unstorable": "Must not contain NUL characters or unpaired surrogates.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not is_storable(value):
            raise self.make_error("unstorable")
        return value


class HttpUrl(Text):
    """An absolute ``http`` or ``https`` URL of at most 2048 characters."""

    default_error_messages = {
        "url": "Must be an absolute http or https URL.",
        "length": "Must be at most 2048 characters.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > 2048:
            raise self.make_error("length")
        if not is_http_url(value):
            raise self.make_error("url")
        return value


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def is_storable(value: str) -> bool:
    """True when ``value`` has no NUL character and no lone surrogate."""
    return _UNSTORABLE.search(value) is None


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host and a valid port (length not checked)."""
    if _SPACE_OR_CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(hostname)


def is_artifact_path(value: str) -> bool:
    """True for a well-formed storage key (the run prefix is checked elsewhere)."""
    return not looks_inline(value) and artifact_path_problem(value) is None


def looks_inline(value: str) -> bool:
    """True when ``value`` is a URL, data: URI, base64 or HTML rather than a storage key."""
    head = value[:4096]
    return bool(_INLINE_HINT.search(head) or _LOOKS_BASE64.match(head))


class ArtifactPath(Text):
    """A storage key: ``[A-Za-z0-9._/-]``, at most 512 characters, no ``.``/``..``/empty segment.

    The ``scan-runs/<scanRunId>/`` prefix depends on the payload's run, so the schema
    checks it once ``scanRunId`` is known.
    """

    default_error_messages = {"inline": ARTIFACT_MESSAGE}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        value = super()._deserialize(value, attr, data, **kwargs)
        if looks_inline(value):
            raise self.make_error("inline")
        problem = artifact_path_problem(value)
        if problem:
            raise ValidationError(problem)
        return value


def artifact_path_problem(value: str) -> str | None:
    """Why ``value`` is not a well-formed storage key, or None."""
    if len(value) > 512:
        return "Must be at most 512 characters."
    if not _ARTIFACT_CHARS.match(value):
        return "May contain only A-Z a-z 0-9 . _ - / characters. " + ARTIFACT_MESSAGE
    if value.startswith("/"):
        return "Must not start with '/'."
    segments = value.split("/")
    if any(segment == "" for segment in segments):
        return "Must not contain an empty path segment."
    if any(segment == ".." for segment in segments):
        return "Must not contain a '..' segment."
    # "a/./b" names the same file as "a/b" on a disk: the collector would see two keys.
    if any(segment == "." for segment in segments):
        return "Must not contain a '.' segment."
    return None


class ResponseHeaders(fields.Field):
    """An object of header name to string value; errors are keyed by header name."""

    default_error_messages = {
        "invalid": "Must be an object of header names to string values.",
        "too_many": "Must have at most {max} entries.",
    }

    def __init__(self, *, max_entries: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_entries = max_entries

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        if len(value) > self.max_entries:
            raise self.make_error("too_many", max=self.max_entries)
        errors: dict[str, list[str]] = {}
        for name, header_value in value.items():
            if not 1 <= len(name) <= 256 or _UNSTORABLE.search(name):
                errors[name[:256] or "(empty)"] = ["Header names must be 1-256 characters."]
            elif not isinstance(header_value, str):
                errors[name] = ["Header values must be strings."]
            elif len(header_value) > 8192:
                errors[name] = ["Header values must be at most 8192 characters."]
            elif _UNSTORABLE.search(header_value):
                errors[name] = ["Must not contain NUL characters or unpaired surrogates."]
        if errors:
            raise ValidationError(errors)
        return value
