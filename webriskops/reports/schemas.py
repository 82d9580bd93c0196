"""The read API's inputs and answers, and its operations as the OpenAPI document shows them.

The query and body schemas load the query string of the scan detail and report pages,
the read API's query string and the triage API's body, so a value is valid (or not)
everywhere alike. Unknown query parameters are ignored; a known one with a bad value is
an error with the field's name, shown on the page or answered as 422
``VALIDATION_FAILED``. The answer schemas document what the read API sends.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from webriskops import openapi
from webriskops.ingest.fields import Text
from webriskops.ingest.schemas import CountersOutSchema, IssueSchema
from webriskops.models.triage import MAX_REASON, TRIAGE_STATES
from webriskops.vocabulary import (
    CATEGORIES,
    MAX_PAGE_NUMBER,
    PAGE_TYPES,
    SEVERITIES,
)
from webriskops.vocabulary import MAX_PER_PAGE as MAX_RUNS_PER_PAGE

CHANGES = ("new", "recurring")
# sort value → what the customer reads in the sort menu.
SORTS = {
    "severity": "Most severe first",
    "category": "Category",
    "title": "Title",
    "confidence": "Most confident first",
    "pages": "Seen on most pages",
}
MAX_QUERY = 200
MAX_PAGE = MAX_PAGE_NUMBER
MAX_PER_PAGE = 500  # pages and issues of a run per answer
DEFAULT_PER_PAGE = 100

# The ingest schema owns the fingerprint rule; triage must accept exactly what it stores.
_FINGERPRINT_RULES = IssueSchema._declared_fields["fingerprint"].validators


def _one_of(choices: tuple[str, ...] | list[str]) -> validate.OneOf:
    return validate.OneOf(choices, error="Must be one of: {choices}.")


class QuerySchema(Schema):
    """A query string: unknown parameters ignored, empty values treated as absent."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _drop_empty(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        # A form's untouched <select> sends "severity=": that means "any", not an error.
        items = data.items() if hasattr(data, "items") else ()
        return {key: value for key, value in items if key in self.fields and value != ""}


class FindingFilterSchema(QuerySchema):
    """``severity``, ``category``, ``change``, ``triage``, ``q`` and ``sort``."""

    severity = Text(validate=_one_of(SEVERITIES))
    category = Text(validate=_one_of(CATEGORIES))
    change = Text(validate=_one_of(CHANGES))
    triage = Text(validate=_one_of(TRIAGE_STATES))
    q = Text(validate=validate.Length(max=MAX_QUERY))
    sort = Text(validate=_one_of(list(SORTS)), load_default="severity")


class ListPageSchema(QuerySchema):
    """``page`` and ``perPage`` of the read API."""

    page = fields.Integer(
        strict=False, validate=validate.Range(min=1, max=MAX_PAGE), load_default=1
    )
    perPage = fields.Integer(
        strict=False,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        load_default=DEFAULT_PER_PAGE,
    )

    @pre_load
    def _digits_only(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # int() accepts "1_000", " 7" and non-ASCII digits; a page number is 0-9 only.
        return {
            key: value if _ascii_digits(value) else "not a number" for key, value in data.items()
        }


def _ascii_digits(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12


class TriageSchema(Schema):
    """The body of ``PUT /api/projects/<id>/triage`` and of the scan detail's triage form."""

    class Meta:
        unknown = EXCLUDE

    fingerprint = Text(required=True, validate=_FINGERPRINT_RULES)
    state = Text(required=True, validate=_one_of(TRIAGE_STATES))
    reason = Text(validate=validate.Length(max=MAX_REASON), load_default="")


# --- Answers and operations ---------------------------------------------------------


class RunErrorOutSchema(Schema):
    """Why a run failed."""

    code = fields.String(required=True)
    message = fields.String(required=True, allow_none=True)
    url = fields.String(required=True, allow_none=True)
    timeoutMs = fields.Integer(required=True, allow_none=True)


class ScanRunOutSchema(Schema):
    """A scan run in the read API (without pages and issues in lists)."""

    OPENAPI_NAME: ClassVar[str] = "ScanRun"

    scanRunId = fields.Integer(required=True)
    projectId = fields.Integer(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["queued", "running", "completed", "failed"])
    )
    counters = fields.Nested(CountersOutSchema, required=True)
    error = fields.Nested(RunErrorOutSchema, required=True, allow_none=True)
    reportStatus = fields.String(required=True, allow_none=True)
    attempt = fields.Integer(required=True)
    leaseExpiresAt = fields.DateTime(required=True, allow_none=True)
    deadlineAt = fields.DateTime(required=True)
    createdAt = fields.DateTime(required=True)
    startedAt = fields.DateTime(required=True, allow_none=True)
    finishedAt = fields.DateTime(required=True, allow_none=True)
    updatedAt = fields.DateTime(required=True)


class PageArtifactsOutSchema(Schema):
    """A stored page's artifact keys."""

    screenshotPath = fields.String(required=True)
    htmlSnapshotPath = fields.String(required=True, allow_none=True)


class PageOutSchema(Schema):
    """A stored page."""

    url = fields.String(required=True)
    normalizedUrl = fields.String(required=True)
    statusCode = fields.Integer(required=True)
    pageType = fields.String(required=True, validate=validate.OneOf(PAGE_TYPES))
    responseHeaders = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    title = fields.String(required=True, allow_none=True)
    consoleErrorsCount = fields.Integer(required=True, allow_none=True)
    networkErrorsCount = fields.Integer(required=True, allow_none=True)
    loadTimeMs = fields.Integer(required=True, allow_none=True)
    artifacts = fields.Nested(PageArtifactsOutSchema, required=True)


class TriageOutSchema(Schema):
    """A triage decision of a project's fingerprint (``open`` with nulls when never set)."""

    state = fields.String(required=True, validate=validate.OneOf(TRIAGE_STATES))
    reason = fields.String(required=True, allow_none=True)
    updatedAt = fields.String(required=True, allow_none=True)
    updatedBy = fields.String(required=True, allow_none=True)


class IssueOutSchema(Schema):
    """A stored issue (redacted), with the URLs of the pages it was seen on."""

    fingerprint = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    type = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    title = fields.String(required=True)
    description = fields.String(required=True)
    confidence = fields.Integer(required=True)
    evidence = fields.String(required=True)
    businessImpact = fields.String(required=True, allow_none=True)
    suggestedRemediation = fields.String(required=True, allow_none=True)
    reproductionSteps = fields.List(fields.String(), required=True, allow_none=True)
    screenshotPath = fields.String(required=True, allow_none=True)
    occurrences = fields.List(fields.String(), required=True)
    occurrenceCount = fields.Integer(required=True)
    occurrencesNext = fields.String(required=True, allow_none=True)
    change = fields.String(required=True, allow_none=True, validate=validate.OneOf(CHANGES))
    triage = fields.Nested(TriageOutSchema, required=True)


class ScanRunDetailSchema(ScanRunOutSchema):
    """A scan run with one page of its pages and issues."""

    pages = fields.List(fields.Nested(PageOutSchema), required=True)
    issues = fields.List(fields.Nested(IssueOutSchema), required=True)
    page = fields.Integer(required=True)
    perPage = fields.Integer(required=True)
    pagesTotal = fields.Integer(required=True)
    issuesTotal = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)


class OccurrencePageSchema(Schema):
    """A page of the URLs one issue of a run was seen on."""

    scanRunId = fields.Integer(required=True)
    fingerprint = fields.String(required=True)
    items = fields.List(fields.String(), required=True)
    page = fields.Integer(required=True)
    perPage = fields.Integer(required=True)
    total = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)


class TriageSetSchema(TriageOutSchema):
    """The answer of a triage decision."""

    projectId = fields.Integer(required=True)
    fingerprint = fields.String(required=True)


class ScanRunPageSchema(Schema):
    """A page of a project's runs."""

    items = fields.List(fields.Nested(ScanRunOutSchema), required=True)
    page = fields.Integer(required=True)
    perPage = fields.Integer(required=True)
    total = fields.Integer(required=True)
    next = fields.String(required=True, allow_none=True)


class ScanRunCreatedSchema(Schema):
    """A run just created."""

    scanRunId = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["queued"]))


UNAUTHORIZED = "UNAUTHORIZED: bearer token missing, unknown or revoked"
NOT_FOUND = "NOT_FOUND: no such resource in your organizations"

PAGE_PARAMETERS = (
    {
        "in": "query",
        "name": "page",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "in": "query",
        "name": "perPage",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PER_PAGE,
            "default": DEFAULT_PER_PAGE,
        },
    },
)

openapi.operation(
    "reports.api_scan_run",
    "get",
    "A scan run with one page of its pages and issues",
    security="bearerToken",
    parameters=PAGE_PARAMETERS,
    answers={
        200: openapi.Answer("The run", ScanRunDetailSchema),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        422: "VALIDATION_FAILED: page or perPage out of range",
    },
)
openapi.operation(
    "reports.api_issue_occurrences",
    "get",
    "Every page URL one issue of a run was seen on, paginated",
    security="bearerToken",
    parameters=(
        {"in": "query", "name": "fingerprint", "required": True, "schema": {"type": "string"}},
        *PAGE_PARAMETERS,
    ),
    answers={
        200: openapi.Answer("URLs in page order", OccurrencePageSchema),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        422: "VALIDATION_FAILED: page or perPage out of range",
    },
)
openapi.operation(
    "reports.api_scan_run_sarif",
    "get",
    "The run's findings as a SARIF 2.1.0 log (GitHub code scanning, DefectDojo)",
    security="bearerToken",
    answers={
        200: openapi.Answer(
            "A SARIF 2.1.0 log",
            {"type": "object", "required": ["version", "runs"]},
            media_type="application/sarif+json",
        ),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
    },
)
openapi.operation(
    "reports.api_set_triage",
    "put",
    "Set the triage state of a fingerprint for the whole project",
    security="bearerToken",
    body=TriageSchema,
    answers={
        200: openapi.Answer("The decision", TriageSetSchema),
        400: "MALFORMED_JSON: the body is not a JSON object",
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        415: "UNSUPPORTED_MEDIA_TYPE: not JSON",
        422: "VALIDATION_FAILED: with fields",
    },
)
openapi.operation(
    "reports.api_project_scan_runs",
    "get",
    "A project's scan runs, newest first",
    security="bearerToken",
    parameters=(
        {
            "in": "query",
            "name": "page",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER, "default": 1},
        },
        {
            "in": "query",
            "name": "perPage",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_RUNS_PER_PAGE,
                "default": 20,
            },
        },
    ),
    answers={
        200: openapi.Answer("Runs, newest first", ScanRunPageSchema),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        422: "VALIDATION_FAILED: page or perPage out of range",
    },
)
openapi.operation(
    "reports.api_start_scan",
    "post",
    "Start a scan: create a queued run and reserve a credit",
    security="bearerToken",
    answers={
        201: openapi.Answer("Created", ScanRunCreatedSchema, ("Location",)),
        401: UNAUTHORIZED,
        402: "INSUFFICIENT_CREDITS: the organization has no scan credit left",
        404: NOT_FOUND,
    },
)
