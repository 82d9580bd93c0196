"""Marshmallow schemas of ``POST /api/scanner/results`` (section 3 of the contract).

Unknown fields are ignored (tolerant reader); known fields are validated strictly.
``load_result`` returns the loaded payload or raises an ``ApiError`` whose ``fields``
are dotted, indexed paths such as ``pages.2.artifacts.screenshotPath``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webriskops import openapi
from webriskops.errors import ApiError, validation_error
from webriskops.ingest import fastpath
from webriskops.ingest.fields import (
    ArtifactPath,
    HttpUrl,
    Pattern,
    ResponseHeaders,
    StrictInteger,
    StrictNumber,
    Text,
    refuse_secret,
)
from webriskops.vocabulary import (
    CATEGORIES,
    INT32_MAX,
    INT64_MAX,
    PAGE_TYPES,
    RESULT_STATUSES,
    SEVERITIES,
)

STATUSES = RESULT_STATUSES


def _count(**kwargs: Any) -> StrictInteger:
    return StrictInteger(validate=validate.Range(min=0, max=INT32_MAX), **kwargs)


class BaseSchema(Schema):
    """Ignore unknown fields: scanners may send more than we read."""

    class Meta:
        unknown = EXCLUDE


class PageSchema(BaseSchema):
    """A tested page."""

    url = HttpUrl(required=True)
    normalizedUrl = HttpUrl(required=True)
    statusCode = StrictInteger(required=True, validate=validate.Range(min=100, max=599))
    pageType = Text(required=True, validate=validate.OneOf(PAGE_TYPES))
    responseHeaders = ResponseHeaders(required=True)
    title = Text(validate=validate.Length(max=500))
    consoleErrorsCount = _count()
    networkErrorsCount = _count()
    loadTimeMs = _count()


class ArtifactsSchema(BaseSchema):
    """Storage keys of the page's screenshot and HTML snapshot."""

    screenshotPath = ArtifactPath(required=True)
    htmlSnapshotPath = ArtifactPath()


class IssueSchema(BaseSchema):
    """A finding."""

    category = Text(required=True, validate=validate.OneOf(CATEGORIES))
    type = Text(
        required=True,
        validate=[
            Pattern(
                r"^[a-z0-9][a-z0-9_.:-]{0,99}$", error="Must be a slug: a-z 0-9 _ . : - (1-100)."
            ),
            refuse_secret,
        ],
    )
    severity = Text(required=True, validate=validate.OneOf(SEVERITIES))
    title = Text(required=True, validate=validate.Length(min=1, max=300))
    description = Text(required=True, validate=validate.Length(max=10000))
    fingerprint = Text(
        required=True,
        validate=[
            Pattern(
                r"^[A-Za-z0-9._:/+=-]{8,128}$",
                error="Must be 8-128 characters of A-Z a-z 0-9 . _ : / + = -.",
            ),
            refuse_secret,
        ],
    )
    confidence = StrictInteger(required=True, validate=validate.Range(min=0, max=100))
    evidence = Text(required=True, validate=validate.Length(max=20000))
    businessImpact = Text(validate=validate.Length(max=10000))
    suggestedRemediation = Text(validate=validate.Length(max=10000))
    reproductionSteps = fields.List(
        Text(validate=validate.Length(max=2000)), validate=validate.Length(max=50)
    )
    screenshotPath = ArtifactPath()


class PageResultSchema(BaseSchema):
    """One entry of ``pages[]``."""

    page = fields.Nested(PageSchema, required=True)
    artifacts = fields.Nested(ArtifactsSchema, required=True)
    issues = fields.List(fields.Nested(IssueSchema), required=True)


class CountersSchema(BaseSchema):
    """Totals the scanner computed; any it omits are derived from the stored data."""

    pagesScanned = _count()
    issuesCount = _count()
    highCount = _count()
    mediumCount = _count()
    lowCount = _count()
    riskScore = StrictNumber(validate=validate.Range(min=0, max=100))


class CommonSchema(BaseSchema):
    """The fields every postback has."""

    scanRunId = StrictInteger(required=True, validate=validate.Range(min=1, max=INT64_MAX))
    status = Text(required=True, validate=validate.OneOf(STATUSES))


class CompletedResultSchema(CommonSchema):
    """A completed scan: either the single-page shape or ``pages[]``."""

    # For the OpenAPI document: single-page or multi-page, never both, never neither
    # (what _shape_errors says).
    OPENAPI: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {
                "required": ["pages"],
                "not": {
                    "anyOf": [{"required": [name]} for name in ("page", "artifacts", "issues")]
                },
            },
            {"required": ["page", "artifacts", "issues"], "not": {"required": ["pages"]}},
        ]
    }

    status = Text(required=True, validate=validate.OneOf(["completed"]))
    page = fields.Nested(PageSchema)
    artifacts = fields.Nested(ArtifactsSchema)
    issues = fields.List(fields.Nested(IssueSchema))
    pages = fields.List(fields.Nested(PageResultSchema))
    counters = fields.Nested(CountersSchema)


class ErrorSchema(BaseSchema):
    """Why a scan failed."""

    code = Text(
        required=True,
        validate=[
            Pattern(
                r"^[A-Z][A-Z0-9_]{1,63}$",
                error="Must be 2-64 characters of A-Z 0-9 _ starting with a letter.",
            ),
            refuse_secret,
        ],
    )
    message = Text(required=True, validate=validate.Length(min=1, max=2000))
    url = HttpUrl()
    timeoutMs = StrictInteger(validate=validate.Range(min=0, max=86_400_000))


class FailedResultSchema(CommonSchema):
    """A failed scan; page data is ignored."""

    status = Text(required=True, validate=validate.OneOf(["failed"]))
    error = fields.Nested(ErrorSchema, required=True)


@dataclass(frozen=True)
class Limits:
    """Configurable size limits of a payload (section 3.3)."""

    max_pages: int = 1000
    max_issues_per_page: int = 5000
    max_issues_per_payload: int = 50000


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into ``{"pages.2.page.url": [...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            for path, messages in flatten_errors(value, name).items():
                flat.setdefault(path, []).extend(messages)
    elif isinstance(errors, list) and all(isinstance(m, str) for m in errors):
        flat[prefix or "payload"] = list(errors)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "payload"] = [str(errors)]
    return flat


def _shape_errors(data: dict) -> dict[str, list[str]]:
    """A completed payload is single-page or multi-page: never both, never neither."""
    single = [name for name in ("page", "artifacts", "issues") if name in data]
    if "pages" in data:
        if single:
            return {"pages": ["Send either pages[] or page/artifacts/issues, not both."]}
        return {}
    if not single:
        return {"pages": ["Send pages[] or the single-page page, artifacts and issues."]}
    return {
        name: ["Missing data for required field."]
        for name in ("page", "artifacts", "issues")
        if name not in data
    }


def _count_errors(data: dict, limits: Limits) -> dict[str, list[str]]:
    """Checks of list sizes, done before the items are validated one by one."""
    errors: dict[str, list[str]] = {}
    pages = data.get("pages")
    if isinstance(pages, list):
        if len(pages) > limits.max_pages:
            errors["pages"] = [f"At most {limits.max_pages} pages per payload."]
            return errors
        total = 0
        for index, entry in enumerate(pages):
            issues = entry.get("issues") if isinstance(entry, dict) else None
            if isinstance(issues, list):
                total += len(issues)
                if len(issues) > limits.max_issues_per_page:
                    errors[f"pages.{index}.issues"] = [
                        f"At most {limits.max_issues_per_page} issues per page."
                    ]
        if total > limits.max_issues_per_payload and not errors:
            errors["pages"] = [f"At most {limits.max_issues_per_payload} issues per payload."]
    issues = data.get("issues")
    if isinstance(issues, list) and len(issues) > limits.max_issues_per_page:
        errors["issues"] = [f"At most {limits.max_issues_per_page} issues per page."]
    return errors


def _artifact_prefix_errors(result: dict) -> dict[str, list[str]]:
    """Every artifact path must live under the run's own ``scan-runs/<id>/`` prefix."""
    prefix = f"scan-runs/{result['scanRunId']}/"
    message = [f"Must be a storage path under {prefix}"]
    errors: dict[str, list[str]] = {}

    def check(entry: dict, base: str) -> None:
        for name in ("screenshotPath", "htmlSnapshotPath"):
            path = entry.get("artifacts", {}).get(name)
            if path is not None and not path.startswith(prefix):
                errors[f"{base}artifacts.{name}"] = message
        for index, issue in enumerate(entry.get("issues", [])):
            path = issue.get("screenshotPath")
            if path is not None and not path.startswith(prefix):
                errors[f"{base}issues.{index}.screenshotPath"] = message

    if "pages" in result:
        for index, entry in enumerate(result["pages"]):
            check(entry, f"pages.{index}.")
    else:
        check(result, "")
    return errors


_common = CommonSchema()
_completed = CompletedResultSchema()
_failed = FailedResultSchema()
# By status: the schema that gives the errors and the acceptor compiled from it.
SCHEMAS: dict[str, Schema] = {"completed": _completed, "failed": _failed}
_FAST = {status: fastpath.compile_schema(schema) for status, schema in SCHEMAS.items()}


def cross_field_errors(result: dict) -> dict[str, list[str]]:
    """Rules over several fields of a loaded payload, for both paths alike."""
    return _artifact_prefix_errors(result) if result["status"] == "completed" else {}


def load_result(data: Any, limits: Limits) -> dict:
    """Validate a decoded postback; return it loaded or raise a 422 ``ApiError``."""
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    status = data.get("status")
    if type(status) is not str:
        status = None  # the common schema says why; a list or dict is not a dict key
    errors: dict[str, list[str]] = {}
    if status == "completed":
        too_many = _count_errors(data, limits)
        if too_many:
            raise validation_error(too_many, "The payload is over a size limit.")
        errors = _shape_errors(data)
    result = _FAST[status](data) if status in _FAST and not errors else fastpath.REJECTED
    if result is not fastpath.REJECTED and fastpath.holds_stored_secret(result):
        result = fastpath.REJECTED  # marshmallow names the field that carries it
    if result is fastpath.REJECTED:
        # Something is off: marshmallow says what, field by field.
        try:
            result = SCHEMAS.get(status, _common).load(data)
        except ValidationError as error:
            errors = {**flatten_errors(error.messages), **errors}
        if errors:
            raise validation_error(errors)
    errors = cross_field_errors(result)
    if errors:
        raise validation_error(errors)
    return result


# --- The answers, and the operation as the OpenAPI document shows it ----------------------


class CountersOutSchema(Schema):
    """Counters as stored (unset ones are null)."""

    pagesScanned = fields.Integer(allow_none=True)
    issuesCount = fields.Integer(allow_none=True)
    highCount = fields.Integer(allow_none=True)
    mediumCount = fields.Integer(allow_none=True)
    lowCount = fields.Integer(allow_none=True)
    riskScore = fields.Float(allow_none=True)


class LinksSchema(Schema):
    """Where to read the run and its report."""

    scanRun = fields.String(required=True)
    report = fields.String(required=True)


class AcceptedSchema(Schema):
    """The 202 answer of a postback."""

    scanRunId = fields.Integer(required=True)
    status = fields.String(required=True)
    duplicate = fields.Boolean(required=True)
    pagesStored = fields.Integer(required=True)
    issuesStored = fields.Integer(required=True)
    counters = fields.Nested(CountersOutSchema, required=True)
    links = fields.Nested(LinksSchema, required=True)


def _document_limits(document: dict[str, Any], config: Mapping[str, Any]) -> None:
    """The configured list limits (``_count_errors``) as ``maxItems``."""
    schemas = document["components"]["schemas"]
    per_page = {"maxItems": config["MAX_ISSUES_PER_PAGE"]}
    schemas["CompletedResult"]["properties"]["pages"]["maxItems"] = config["MAX_PAGES"]
    schemas["CompletedResult"]["properties"]["issues"].update(per_page)
    schemas["PageResult"]["properties"]["issues"].update(per_page)
    schemas["CompletedResult"]["description"] = (
        "A completed scan: single-page (page, artifacts, issues) or multi-page (pages)."
        f" At most {config['MAX_ISSUES_PER_PAYLOAD']} issues in all; at most"
        f" {config['MAX_BODY_BYTES']} bytes of JSON (after gzip)."
    )


# Printable ASCII, bare (as documented) or quoted; the server also strips spaces around it.
IDEMPOTENCY_KEY_PATTERN = '^(?!""$)[!-~](?:[ -~]{0,253}[!-~])?$'

RESULTS = openapi.operation(
    "scanner.results.store",
    "post",
    "Post a completed or failed scan result",
    security="scannerSecret",
    body=openapi.Discriminated(
        "status", {"completed": CompletedResultSchema, "failed": FailedResultSchema}
    ),
    parameters=(
        {
            "in": "header",
            "name": "Idempotency-Key",
            "description": "One key per postback, reused on each retry of it.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            },
        },
        {
            "in": "header",
            "name": "Content-Encoding",
            "description": "`gzip` when the body is gzip-compressed; left out otherwise.",
            "schema": {"type": "string", "enum": ["gzip", "identity"]},
        },
    ),
    answers={
        202: openapi.Answer(
            "Accepted (or a duplicate of an accepted result)",
            AcceptedSchema,
            ("RateLimit-Policy", "RateLimit", "Idempotent-Replayed"),
        ),
        400: "MALFORMED_JSON: not JSON, not an object, or broken gzip",
        401: openapi.Answer("UNAUTHORIZED: secret missing or wrong", None, ("RateLimit-Policy",)),
        409: openapi.Answer(
            "IDEMPOTENCY_CONFLICT: the same key is in flight", None, ("Retry-After",)
        ),
        413: "PAYLOAD_TOO_LARGE: over the body limit (after gzip)",
        415: "UNSUPPORTED_MEDIA_TYPE: not application/json, or an unknown Content-Encoding",
        422: "VALIDATION_FAILED, SCAN_RUN_NOT_FOUND or IDEMPOTENCY_KEY_REUSED",
        429: openapi.Answer("RATE_LIMITED", None, ("Retry-After", "RateLimit-Policy", "RateLimit")),
    },
    configure=_document_limits,
)
