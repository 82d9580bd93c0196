"""``POST /api/scanner/results``: the checks in the contract's order, then the service.

Order (section 3.1): authentication, rate limit, body (size, media type, JSON),
schema, scan-run lookup. Nothing about the payload is read before the secret checks
out, so an unauthenticated caller learns nothing from the answer.
"""

from __future__ import annotations

from flask import Response, current_app, g, request

from webriskops.auth.scanner import admit_scanner
from webriskops.ingest import bp, idempotency
from webriskops.ingest.body import parse_json, read_body, require_json_media_type
from webriskops.ingest.schemas import Limits, load_result
from webriskops.ingest.service import ingest_result

ENDPOINT = "scanner.results.store"


def store_results() -> Response:
    """Accept a completed or failed scan result from the scanner runtime."""
    config = current_app.config
    admit_scanner()

    body = read_body(config["MAX_BODY_BYTES"])
    require_json_media_type()
    data = parse_json(body)
    key = idempotency.parse_key(request.headers.get("Idempotency-Key"))
    result = load_result(
        data,
        Limits(
            max_pages=config["MAX_PAGES"],
            max_issues_per_page=config["MAX_ISSUES_PER_PAGE"],
            max_issues_per_payload=config["MAX_ISSUES_PER_PAYLOAD"],
        ),
    )
    accepted = ingest_result(result, key=key, body_hash=idempotency.request_hash(body))
    response = Response(accepted.body, status=accepted.status, mimetype="application/json")
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.after_app_request
def add_rate_limit_headers(response: Response) -> Response:
    """Every scanner response carries the rate-limit headers (errors included)."""
    headers = g.get("rate_limit_headers")
    if headers:
        response.headers.update(headers)
    return response


@bp.record_once
def _register(state) -> None:
    # The contract names the route ``scanner.results.store``; blueprint endpoints may not
    # contain dots, so the rule is added on the app with that exact name.
    state.app.add_url_rule(
        "/api/scanner/results", endpoint=ENDPOINT, view_func=store_results, methods=["POST"]
    )
