"""Schemas of the dispatch endpoints (API.md 3.9); the OpenAPI document is built from them."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webriskops import openapi
from webriskops.errors import ApiError, validation_error
from webriskops.ingest.fields import StrictInteger
from webriskops.ingest.schemas import flatten_errors
from webriskops.reports.schemas import ScanRunOutSchema

MAX_CLAIM = 50
LEASE_SECONDS = (30, 3600)


class ClaimSchema(Schema):
    """``POST /api/scanner/runs/claim``: how many runs, and how long each lease lasts."""

    OPENAPI_NAME: ClassVar[str] = "ClaimRequest"

    class Meta:
        unknown = EXCLUDE

    max = StrictInteger(load_default=1, validate=validate.Range(1, MAX_CLAIM))
    leaseSeconds = StrictInteger(load_default=300, validate=validate.Range(*LEASE_SECONDS))


class ClaimedRunSchema(Schema):
    """One claimed run: what the scanner needs to work on it."""

    scanRunId = fields.Integer(required=True)
    projectId = fields.Integer(required=True)
    baseUrl = fields.String(required=True)
    attempt = fields.Integer(required=True)
    leaseExpiresAt = fields.DateTime(required=True)
    deadlineAt = fields.DateTime(required=True)
    artifactPrefix = fields.String(required=True)


class ClaimedSchema(Schema):
    """The 200 answer of a claim (``runs`` is empty when nothing is queued)."""

    runs = fields.List(fields.Nested(ClaimedRunSchema), required=True)


class LeaseSchema(Schema):
    """The 200 answer of a heartbeat."""

    leaseExpiresAt = fields.DateTime(required=True)


_claim = ClaimSchema()


def load_claim(data: Any) -> dict[str, int]:
    """A decoded claim body loaded, or a 400/422 ``ApiError`` (``{}`` means defaults)."""
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    try:
        return _claim.load(data)
    except ValidationError as error:
        raise validation_error(flatten_errors(error.messages)) from None


# --- The operations, as the OpenAPI document shows them ----------------------------------

_RATE_LIMITED = openapi.Answer("RATE_LIMITED", None, ("Retry-After",))
openapi.operation(
    "scans.claim",
    "post",
    "Claim the oldest queued runs, each with a lease",
    security="scannerSecret",
    body=ClaimSchema,
    body_required=False,
    answers={
        200: openapi.Answer("Claimed runs (maybe none)", ClaimedSchema),
        400: "MALFORMED_JSON",
        401: "UNAUTHORIZED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        422: "VALIDATION_FAILED",
        429: _RATE_LIMITED,
    },
)
openapi.operation(
    "scans.heartbeat",
    "post",
    "Extend a claimed run's lease by its claim's leaseSeconds",
    security="scannerSecret",
    answers={
        200: openapi.Answer("The new lease end", LeaseSchema),
        400: "MALFORMED_JSON (a body is optional, but must be JSON when sent)",
        401: "UNAUTHORIZED",
        404: "SCAN_RUN_NOT_FOUND",
        409: "LEASE_LOST",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: _RATE_LIMITED,
    },
)
openapi.operation(
    "scans.api_cancel",
    "post",
    "Cancel a run that is not terminal (it fails with CANCELLED)",
    security="bearerToken",
    answers={
        200: openapi.Answer("The cancelled run", ScanRunOutSchema),
        401: "UNAUTHORIZED",
        404: "NOT_FOUND",
        409: "RUN_TERMINAL",
    },
)
