"""One error type and one JSON error body for the whole API.

Every API error leaves the app as
``{"error": {"code": ..., "message": ..., "fields": {...}}}`` (``fields`` only when
there are field errors); browsers get the ``error.html`` page instead. Every handler of
the app is registered here, once. The 500 handler rolls the session back so a broken
transaction never leaks into the next request, and a database that cannot be reached
is a 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``, not a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sqlalchemy_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from webriskops.extensions import db

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


# Titles and explanations of the branded HTML error pages, where the exception has
# nothing better, by status.
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
    503: (
        "Briefly unavailable",
        "The service cannot reach its database right now. Wait a few seconds, then try again.",
    ),
}
# What a failed CSRF check means to the person who sent the form, by Flask-WTF's reason.
CSRF_PAGES = {
    "The referrer header is missing.": (
        "Your browser did not say which page sent this form",
        "Over HTTPS this site accepts forms only from its own pages, and your browser sent "
        "the form without a Referer header (a privacy setting or extension may remove it). "
        "Allow the Referer header for this site, reload the page and try again.",
    ),
    "The referrer does not match the host.": (
        "This form came from another site",
        "The form was sent from a page that is not part of this site, so it was refused. "
        "Open this site directly, reload the page and try again.",
    ),
}
CSRF_DEFAULT_PAGE = (
    "This form has expired",
    "The form was sent without its security token, or the token has expired. "
    "Go back, reload the page and try again.",
)
DATABASE_RETRY_AFTER = 5
# Errors that mean the database cannot be reached right now (restart, failover, network),
# not that the request was wrong: 503 with Retry-After, never 500.
DATABASE_UNAVAILABLE = (
    sqlalchemy_exc.OperationalError,
    sqlalchemy_exc.InterfaceError,
    sqlalchemy_exc.TimeoutError,  # no pooled connection came free in time
    psycopg.OperationalError,  # raised by COPY, which bypasses SQLAlchemy
)


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be the thing that broke
        log.warning("rollback failed; the connection is discarded")
        db.session.remove()


def _page(status: int, title: str, message: str, headers: Mapping[str, str] | None = None):
    try:
        html = render_template("error.html", status=status, title=title, message=message)
    except Exception:  # the page frame itself failed (e.g. the database is down)
        log.exception("could not render the error page for %s", status)
        html = (
            f"<!doctype html><title>{status} · WebRiskOps</title>"
            f"<h1>{status} · {title}</h1><p>Try again in a moment.</p>"
        )
    return html, status, dict(headers or {})


def _headers_of(error: HTTPException) -> dict[str, str]:
    """Headers the status needs, such as a 405's Allow (not the HTML content type)."""
    return {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }


def init_app(app: Flask) -> None:
    """Register the app's error handlers: one JSON body for the API, one page for browsers."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error.response()

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        log.warning("CSRF check failed on %s: %s", request.path, error.description)
        if wants_json():
            return ApiError(
                400, "CSRF_FAILED", error.description or "CSRF check failed."
            ).response()
        title, message = CSRF_PAGES.get(error.description or "", CSRF_DEFAULT_PAGE)
        return _page(400, title, message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        status = error.code or 500
        if not wants_json():
            return error_page(error)
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        message = error.description or code
        return ApiError(status, code, message, headers=_headers_of(error)).response()

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        _rollback()
        if isinstance(error, DATABASE_UNAVAILABLE):
            log.warning(
                "database unavailable on %s %s: %s",
                request.method,
                request.path,
                type(error).__name__,
            )
            headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
            if not wants_json():
                return _page(503, *PAGE_ERRORS[503], headers)
            return ApiError(
                503,
                "SERVICE_UNAVAILABLE",
                "The database cannot be reached right now. Retry after a few seconds.",
                headers=headers,
            ).response()
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
    return _page(status, title, message or error.name, _headers_of(error))
