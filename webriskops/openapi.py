"""``GET /api/openapi.json``: the OpenAPI 3 document, generated from the marshmallow schemas."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify
from marshmallow import Schema, fields

from webriskops.ingest import fields as ingest_fields
from webriskops.ingest.schemas import CompletedResultSchema, FailedResultSchema
from webriskops.reports.schemas import MAX_PER_PAGE, TriageSchema
from webriskops.scans.schemas import ClaimedSchema, ClaimSchema, LeaseSchema


class ErrorDetailSchema(Schema):
    """The ``error`` object of every error response."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ErrorResponseSchema(Schema):
    """Every API error."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class CountersOutSchema(Schema):
    """Counters as stored."""

    pagesScanned = fields.Integer(allow_none=True)
    issuesCount = fields.Integer(allow_none=True)
    highCount = fields.Integer(allow_none=True)
    mediumCount = fields.Integer(allow_none=True)
    lowCount = fields.Integer(allow_none=True)
    riskScore = fields.Float(allow_none=True)


class LinksSchema(Schema):
    """Where to read the run and its report."""

    scanRun = fields.String()
    report = fields.String()


class AcceptedSchema(Schema):
    """The 202 answer of a postback."""

    scanRunId = fields.Integer(required=True)
    status = fields.String(required=True)
    duplicate = fields.Boolean(required=True)
    pagesStored = fields.Integer(required=True)
    issuesStored = fields.Integer(required=True)
    counters = fields.Nested(CountersOutSchema)
    links = fields.Nested(LinksSchema)


class ScanRunOutSchema(Schema):
    """A scan run in the read API."""

    scanRunId = fields.Integer()
    projectId = fields.Integer()
    status = fields.String()
    counters = fields.Nested(CountersOutSchema)
    error = fields.Dict(allow_none=True)
    reportStatus = fields.String(allow_none=True)
    attempt = fields.Integer()
    leaseExpiresAt = fields.DateTime(allow_none=True)
    deadlineAt = fields.DateTime()
    createdAt = fields.DateTime()
    startedAt = fields.DateTime(allow_none=True)
    finishedAt = fields.DateTime(allow_none=True)
    updatedAt = fields.DateTime()
    pages = fields.List(fields.Dict())
    issues = fields.List(fields.Dict())
    page = fields.Integer()
    perPage = fields.Integer()
    pagesTotal = fields.Integer()
    issuesTotal = fields.Integer()
    next = fields.String(allow_none=True)


class TriageOutSchema(Schema):
    """A triage decision of a project's fingerprint."""

    projectId = fields.Integer()
    fingerprint = fields.String()
    state = fields.String()
    reason = fields.String(allow_none=True)
    updatedAt = fields.DateTime(allow_none=True)
    updatedBy = fields.String(allow_none=True)


class OccurrencePageSchema(Schema):
    """A page of the URLs an issue was seen on."""

    scanRunId = fields.Integer()
    fingerprint = fields.String()
    items = fields.List(fields.String())
    page = fields.Integer()
    perPage = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True)


class ScanRunPageSchema(Schema):
    """A page of a project's runs."""

    items = fields.List(fields.Nested(ScanRunOutSchema))
    page = fields.Integer()
    perPage = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True)


class ScanRunCreatedSchema(Schema):
    """A run just created."""

    scanRunId = fields.Integer()
    status = fields.String()


def _field_to_properties(converter, field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(field, ingest_fields.StrictInteger):
        return {"type": "integer"}
    if isinstance(field, ingest_fields.StrictNumber):
        return {"type": "number"}
    if isinstance(field, ingest_fields.ResponseHeaders):
        return {"type": "object", "additionalProperties": {"type": "string", "maxLength": 8192}}
    return {}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "Error",
            "content": {"application/json": {"schema": "ErrorResponse"}},
        }
        for status in statuses
    }


def build_spec() -> dict[str, Any]:
    """Build the OpenAPI document."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="WebRiskOps API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "Scanner results ingest and the customer read API."},
    )
    plugin.converter.add_attribute_function(_field_to_properties)
    spec.components.security_scheme(
        "scannerSecret", {"type": "apiKey", "in": "header", "name": "X-Scanner-Secret"}
    )
    spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer"})
    for name, schema in (
        ("CompletedResult", CompletedResultSchema),
        ("FailedResult", FailedResultSchema),
        ("ErrorResponse", ErrorResponseSchema),
        ("Accepted", AcceptedSchema),
        ("ScanRun", ScanRunOutSchema),
        ("ScanRunPage", ScanRunPageSchema),
        ("ScanRunCreated", ScanRunCreatedSchema),
        ("Triage", TriageSchema),
        ("TriageOut", TriageOutSchema),
        ("OccurrencePage", OccurrencePageSchema),
        ("ClaimRequest", ClaimSchema),
        ("Claimed", ClaimedSchema),
        ("Lease", LeaseSchema),
    ):
        spec.components.schema(name, schema=schema)
    json_body = lambda ref: {"content": {"application/json": {"schema": ref}}}  # noqa: E731
    spec.path(
        path="/api/scanner/results",
        operations={
            "post": {
                "operationId": "scanner.results.store",
                "summary": "Post a completed or failed scan result",
                "security": [{"scannerSecret": []}],
                "parameters": [
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "schema": {"type": "string", "maxLength": 257},
                    },
                    {
                        "in": "header",
                        "name": "Content-Encoding",
                        "schema": {"type": "string", "enum": ["gzip"]},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/CompletedResult"},
                                    {"$ref": "#/components/schemas/FailedResult"},
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": {"description": "Accepted", **json_body("Accepted")},
                    **_errors(400, 401, 409, 413, 415, 422, 429),
                },
            }
        },
    )
    run_id = {"in": "path", "name": "scanRunId", "required": True, "schema": {"type": "integer"}}
    paging = [
        {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1}},
        {
            "in": "query",
            "name": "perPage",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 100},
        },
    ]
    spec.path(
        path="/api/scan-runs/{scanRunId}",
        operations={
            "get": {
                "operationId": "reports.api_scan_run",
                "summary": "A run with one page of its pages and issues",
                "security": [{"bearerToken": []}],
                "parameters": [run_id, *paging],
                "responses": {
                    "200": {"description": "The run", **json_body("ScanRun")},
                    **_errors(401, 404, 422),
                },
            }
        },
    )
    spec.path(
        path="/api/scan-runs/{scanRunId}/occurrences",
        operations={
            "get": {
                "operationId": "reports.api_issue_occurrences",
                "summary": "Every page URL an issue was seen on, paginated",
                "security": [{"bearerToken": []}],
                "parameters": [
                    run_id,
                    {
                        "in": "query",
                        "name": "fingerprint",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    *paging,
                ],
                "responses": {
                    "200": {"description": "Occurrences", **json_body("OccurrencePage")},
                    **_errors(401, 404, 422),
                },
            }
        },
    )
    spec.path(
        path="/api/scan-runs/{scanRunId}/sarif",
        operations={
            "get": {
                "operationId": "reports.api_scan_run_sarif",
                "summary": "The run's findings as SARIF 2.1.0",
                "security": [{"bearerToken": []}],
                "parameters": [run_id],
                "responses": {
                    "200": {
                        "description": "A SARIF 2.1.0 log",
                        "content": {"application/sarif+json": {"schema": {"type": "object"}}},
                    },
                    **_errors(401, 404),
                },
            }
        },
    )
    spec.path(
        path="/api/projects/{projectId}/triage",
        operations={
            "put": {
                "operationId": "reports.api_set_triage",
                "summary": "Set the triage state of a fingerprint for the whole project",
                "security": [{"bearerToken": []}],
                "parameters": [
                    {
                        "in": "path",
                        "name": "projectId",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "requestBody": {"required": True, **json_body("Triage")},
                "responses": {
                    "200": {"description": "The decision", **json_body("TriageOut")},
                    **_errors(400, 401, 404, 415, 422),
                },
            }
        },
    )
    spec.path(
        path="/api/projects/{projectId}/scan-runs",
        operations={
            "get": {
                "operationId": "reports.api_project_scan_runs",
                "security": [{"bearerToken": []}],
                "parameters": [
                    {
                        "in": "path",
                        "name": "projectId",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1}},
                    {
                        "in": "query",
                        "name": "perPage",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {"description": "Runs, newest first", **json_body("ScanRunPage")},
                    **_errors(401, 404, 422),
                },
            },
            "post": {
                "operationId": "reports.api_start_scan",
                "security": [{"bearerToken": []}],
                "parameters": [
                    {
                        "in": "path",
                        "name": "projectId",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "201": {"description": "Created", **json_body("ScanRunCreated")},
                    **_errors(401, 402, 404),
                },
            },
        },
    )
    run_id = {"in": "path", "name": "scanRunId", "required": True, "schema": {"type": "integer"}}
    spec.path(
        path="/api/scanner/runs/claim",
        operations={
            "post": {
                "operationId": "scans.claim",
                "summary": "Claim the oldest queued runs, each with a lease",
                "security": [{"scannerSecret": []}],
                "requestBody": {"required": False, **json_body("ClaimRequest")},
                "responses": {
                    "200": {"description": "Claimed runs (maybe none)", **json_body("Claimed")},
                    **_errors(400, 401, 413, 415, 422, 429),
                },
            }
        },
    )
    spec.path(
        path="/api/scanner/runs/{scanRunId}/heartbeat",
        operations={
            "post": {
                "operationId": "scans.heartbeat",
                "summary": "Extend a claimed run's lease by its claim's leaseSeconds",
                "security": [{"scannerSecret": []}],
                "parameters": [run_id],
                "responses": {
                    "200": {"description": "The new lease end", **json_body("Lease")},
                    **_errors(400, 401, 404, 409, 415, 429),
                },
            }
        },
    )
    spec.path(
        path="/api/scan-runs/{scanRunId}/cancel",
        operations={
            "post": {
                "operationId": "scans.api_cancel",
                "summary": "Cancel a run that is not terminal (it fails with CANCELLED)",
                "security": [{"bearerToken": []}],
                "parameters": [run_id],
                "responses": {
                    "200": {"description": "The cancelled run", **json_body("ScanRun")},
                    **_errors(401, 404, 409),
                },
            }
        },
    )
    return spec.to_dict()


def init_app(app: Flask) -> None:
    """Serve the document (built once per process, on first request)."""
    cache: dict[str, Any] = {}

    @app.get("/api/openapi.json")
    def openapi_json():
        if "spec" not in cache:
            cache["spec"] = build_spec()
        return jsonify(cache["spec"])
