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

from marshmallow import ValidationError, fields, validate

from webriskops.redaction import holds_token, redact

# Fields stored, shown and logged as sent (issue type and fingerprint, artifact keys,
# response header names, error.code): the contract redacts none of them, so a value a
# redaction rule matches is refused rather than stored or altered.
SECRET_MESSAGE = "Must not contain a secret: this field is stored as sent."  # noqa: S105

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ARTIFACT_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")
_INLINE_HINT = re.compile(r"^\s*(?:data:|<|[a-z][a-z0-9+.-]*://)|base64,", re.I)
_LOOKS_BASE64 = re.compile(r"^[A-Za-z0-9+/]{200,}={0,2}$")
_LENGTH = "Must be {min}-{max} characters."
# The same rules as JSON Schema (ECMA-262 regexes) for the OpenAPI document.
_NO_NUL = "^[^\\u0000]*$"
_PORT = "0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_NOT_SPACE = "[^\\s\\u0000-\\u001f"
HTTP_URL_PATTERN = (
    f"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_NOT_SPACE}/?#]*@)?"
    f"(?:{_NOT_SPACE}/?#@:\\[\\]]+|\\[[0-9A-Fa-f:.]+\\])"
    f"(?::(?:{_PORT})?)?(?:[/?#]{_NOT_SPACE}]*)?$"
)
_SEGMENT = "(?!\\.\\.(?:/|$))[A-Za-z0-9._-]+"
ARTIFACT_PATH_PATTERN = f"^scan-runs/[1-9][0-9]*/{_SEGMENT}(?:/{_SEGMENT})*$"
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

    def json_schema(self) -> dict[str, Any]:
        """What this field enforces beyond its validators, in JSON Schema."""
        if any(isinstance(rule, validate.Regexp | validate.OneOf) for rule in self.validators):
            return {}  # the pattern or the choices already leave NUL out
        return {"pattern": _NO_NUL}


class HttpUrl(Text):
    """An absolute ``http`` or ``https`` URL of at most ``MAX_LENGTH`` characters."""

    MAX_LENGTH = 2048
    default_error_messages = {"url": "Must be an absolute http or https URL."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A validator rather than a check in _deserialize, so that the fast path and the
        # OpenAPI document read the limit from the same place as the schema.
        self.validators.insert(0, validate.Length(min=1, max=self.MAX_LENGTH, error=_LENGTH))

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not is_http_url(value):
            raise self.make_error("url")
        return value

    def json_schema(self) -> dict[str, Any]:
        """What ``is_http_url`` accepts, as far as a regex can say it."""
        return {"format": "uri", "pattern": HTTP_URL_PATTERN}


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


def holds_secret(value: str) -> bool:
    """Whether ``value`` holds a secret that shows by its shape (``ghp_…``, ``AKIA…``).

    Only those: in a slug or a key, ``name:value`` is not an assignment, and the
    fingerprint ``secret-in-page-source:<hash>`` holds no secret. One scan covers any
    number of values joined by newlines.
    """
    return holds_token(value)


def refuse_secret(value: str) -> None:
    """Marshmallow validator: a field that is stored as sent must not carry a secret."""
    if holds_secret(value):
        raise ValidationError(SECRET_MESSAGE)


def is_artifact_path(value: str) -> bool:
    """True for a well-formed storage key of any length (the run prefix is checked elsewhere)."""
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

    MAX_LENGTH = 512
    default_error_messages = {"inline": ARTIFACT_MESSAGE}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(0, validate.Length(min=1, max=self.MAX_LENGTH, error=_LENGTH))

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        value = super()._deserialize(value, attr, data, **kwargs)
        if looks_inline(value):
            raise self.make_error("inline")
        problem = artifact_path_problem(value)
        if problem:
            raise ValidationError(problem)
        refuse_secret(value)
        return value

    def json_schema(self) -> dict[str, Any]:
        """The storage-key rules and the run prefix together, as one pattern."""
        return {
            "pattern": ARTIFACT_PATH_PATTERN,
            "description": "A storage key under the run's own prefix `scan-runs/<scanRunId>/`.",
        }


def artifact_path_problem(value: str) -> str | None:
    """Why ``value`` is not a well-formed storage key, or None."""
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

    def __init__(
        self,
        *,
        max_entries: int = 200,
        max_name_length: int = 256,
        max_value_length: int = 8192,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_entries = max_entries
        self.max_name_length = max_name_length
        self.max_value_length = max_value_length

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        if len(value) > self.max_entries:
            raise self.make_error("too_many", max=self.max_entries)
        errors: dict[str, list[str]] = {}
        longest_name, longest_value = self.max_name_length, self.max_value_length
        for name, header_value in value.items():
            if not 1 <= len(name) <= longest_name or _UNSTORABLE.search(name):
                errors[name[:longest_name] or "(empty)"] = [
                    f"Header names must be 1-{longest_name} characters."
                ]
            elif not isinstance(header_value, str):
                errors[name] = ["Header values must be strings."]
            elif len(header_value) > longest_value:
                errors[name] = [f"Header values must be at most {longest_value} characters."]
            elif _UNSTORABLE.search(header_value):
                errors[name] = ["Must not contain NUL characters or unpaired surrogates."]
            elif holds_secret(name):
                # The error is keyed by the name: key it by the redacted name instead.
                errors[redact(name)] = [SECRET_MESSAGE]
        if errors:
            raise ValidationError(errors)
        return value

    def json_schema(self) -> dict[str, Any]:
        """The object of headers with its limits."""
        return {
            "type": "object",
            "maxProperties": self.max_entries,
            "propertyNames": {"minLength": 1, "maxLength": self.max_name_length},
            "additionalProperties": {
                "type": "string",
                "maxLength": self.max_value_length,
                "pattern": _NO_NUL,
            },
        }


class Pattern(validate.Regexp):
    """A regular expression the whole value must match, written in the ECMA-262 subset.

    OpenAPI patterns are ECMA-262 regexes, so ``pattern`` is written as ``^…$`` in the
    syntax both dialects share (no ``\\Z``, no inline flags); ``fullmatch`` keeps
    Python's ``$`` from also matching before a final newline.
    """

    def __init__(self, pattern: str, *, error: str | None = None) -> None:
        if not (pattern.startswith("^") and pattern.endswith("$")) or "\\Z" in pattern:
            raise ValueError(f"write {pattern!r} as ^…$ in the ECMA-262 subset")
        super().__init__(pattern, error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value
