"""One error type and one JSON error body for the whole API.

Every API error leaves the app as
``{"error": {"code": ..., "message": ..., "fields": {...}}}`` (``fields`` only when
there are field errors). Handlers are registered once in ``init_app``; the 500 handler
rolls the session back so a broken transaction never leaks into the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


# What a person reads on the branded error page, where the exception has nothing better.
PAGE_ERRORS = {
    403: ("Not allowed", "Only an owner of this organization can do that."),
    404: (
        "Not found",
        "There is nothing here, or it belongs to an organization you are not a member of.",
    ),
    405: ("Not allowed here", "This address does not accept that kind of request."),
    500: (
        "Something went wrong",
        "An unexpected error stopped this page. It has been logged; try again in a moment.",
    ),
}


class ApiError(Exception):
    """An error answered to an API client with a stable machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        return {"error": error}

    def response(self) -> Response:
        """This error as a Flask response."""
        response = jsonify(self.body())
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def validation_error(fields: Mapping[str, list[str]], message: str | None = None) -> ApiError:
    """A 422 VALIDATION_FAILED error carrying dotted field paths."""
    return ApiError(422, "VALIDATION_FAILED", message or "The payload has invalid fields.", fields)


def wants_json() -> bool:
    """True when the request is for the JSON API rather than a browser page."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        status = error.code or 500
        if not wants_json():
            return error_page(error)
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        return ApiError(status, code, error.description or code).response()

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        from webriskops.extensions import db

        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return error
        if not wants_json():
            return error_page(InternalServerError())
        return ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred.").response()


def error_page(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    """The branded HTML page of an HTTP error (its headers, such as ``Allow``, kept)."""
    status = error.code or 500
    title, message = PAGE_ERRORS.get(status, (error.name, error.description))
    if error.description and error.description != type(error).description:
        message = error.description  # a specific explanation given where it was raised
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    try:
        html = render_template("error.html", status=status, title=title, message=message)
    except Exception:  # the page frame itself failed (e.g. the database is down)
        log.exception("could not render the error page for %s", status)
        html = (
            f"<!doctype html><title>{status} · WebRiskOps</title>"
            f"<h1>{status} · {error.name}</h1><p>Try again in a moment.</p>"
        )
    return html, status, headers
