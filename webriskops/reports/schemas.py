"""The read API's answers and its operations, as the OpenAPI document shows them."""

from __future__ import annotations

from typing import ClassVar

from marshmallow import Schema, fields, validate

from webriskops import openapi
from webriskops.ingest.schemas import CountersOutSchema
from webriskops.vocabulary import (
    CATEGORIES,
    MAX_PAGE_NUMBER,
    MAX_PER_PAGE,
    PAGE_TYPES,
    SEVERITIES,
)


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


class ScanRunDetailSchema(ScanRunOutSchema):
    """A scan run with its pages and issues."""

    pages = fields.List(fields.Nested(PageOutSchema), required=True)
    issues = fields.List(fields.Nested(IssueOutSchema), required=True)


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

openapi.operation(
    "reports.api_scan_run",
    "get",
    "A scan run with its pages and issues",
    security="bearerToken",
    answers={
        200: openapi.Answer("The run", ScanRunDetailSchema),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
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
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20},
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
