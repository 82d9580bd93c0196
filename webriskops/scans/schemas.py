"""Schemas of the dispatch endpoints (API.md 3.9); the OpenAPI document is built from them."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webriskops.errors import ApiError, validation_error
from webriskops.ingest.fields import StrictInteger
from webriskops.ingest.schemas import flatten_errors

MAX_CLAIM = 50
LEASE_SECONDS = (30, 3600)


class ClaimSchema(Schema):
    """``POST /api/scanner/runs/claim``: how many runs, and how long each lease lasts."""

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
    """A decoded claim body loaded, or a 400/422 ``ApiError`` (an empty body means defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    try:
        return _claim.load(data)
    except ValidationError as error:
        raise validation_error(flatten_errors(error.messages)) from None
