"""Marshmallow schemas of ``POST /api/scanner/results`` (section 3 of the contract).

Unknown fields are ignored (tolerant reader); known fields are validated strictly.
``load_result`` returns the loaded payload or raises an ``ApiError`` whose ``fields``
are dotted, indexed paths such as ``pages.2.artifacts.screenshotPath``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webriskops.errors import ApiError, validation_error
from webriskops.ingest import fastpath
from webriskops.ingest.fields import (
    INT32_MAX,
    INT64_MAX,
    ArtifactPath,
    HttpUrl,
    ResponseHeaders,
    StrictInteger,
    StrictNumber,
    Text,
    refuse_secret,
)

PAGE_TYPES = (
    "home", "landing", "login", "signup", "password_reset", "account", "checkout", "cart",
    "product", "category", "search", "pricing", "contact", "content", "legal", "error", "other",
)  # fmt: skip
CATEGORIES = (
    "security", "privacy", "compliance", "accessibility", "performance", "seo", "reliability",
    "content",
)  # fmt: skip
SEVERITIES = ("high", "medium", "low", "info")
STATUSES = ("completed", "failed")


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
            validate.Regexp(
                r"^[a-z0-9][a-z0-9_.:-]{0,99}\Z", error="Must be a slug: a-z 0-9 _ . : - (1-100)."
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
            validate.Regexp(
                r"^[A-Za-z0-9._:/+=-]{8,128}\Z",
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
            validate.Regexp(
                r"^[A-Z][A-Z0-9_]{1,63}\Z",
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


_SETS = {
    "page_types": frozenset(PAGE_TYPES),
    "categories": frozenset(CATEGORIES),
    "severities": frozenset(SEVERITIES),
}
_common = CommonSchema()
_completed = CompletedResultSchema()
_failed = FailedResultSchema()


def load_result(data: Any, limits: Limits) -> dict:
    """Validate a decoded postback; return it loaded or raise a 422 ``ApiError``."""
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    status = data.get("status")
    if status == "completed":
        schema: Schema = _completed
        too_many = _count_errors(data, limits)
        if too_many:
            raise validation_error(too_many, "The payload is over a size limit.")
    elif status == "failed":
        schema = _failed
    else:
        schema = _common
    if status == "completed":
        fast = fastpath.load_completed(data, _SETS)
        if fast is not None:
            return fast
    errors = _shape_errors(data) if status == "completed" else {}
    try:
        result = schema.load(data)
    except ValidationError as error:
        errors = {**flatten_errors(error.messages), **errors}
    if errors:
        raise validation_error(errors)
    if status == "completed":
        prefix_errors = _artifact_prefix_errors(result)
        if prefix_errors:
            raise validation_error(prefix_errors)
    return result
