"""What customers may ask of findings: filters, sort, list pages, and a triage decision.

The same schemas load the query string of the scan detail and report pages, the read
API's query string and the triage API's body, so a value is valid (or not) everywhere
alike. Unknown query parameters are ignored; a known one with a bad value is an error
with the field's name, shown on the page or answered as 422 ``VALIDATION_FAILED``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from webriskops.ingest.fields import Text
from webriskops.ingest.schemas import CATEGORIES, SEVERITIES, IssueSchema
from webriskops.models.triage import MAX_REASON, TRIAGE_STATES

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
MAX_PAGE = 10**6
MAX_PER_PAGE = 500
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
