"""The ``reports`` blueprint: customer pages and the read API."""

from flask import Blueprint

bp = Blueprint("reports", __name__)

from webriskops.reports import api, views  # noqa: E402,F401  (registers the views)
