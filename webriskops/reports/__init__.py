"""The ``reports`` blueprint: customer pages and the read API."""

from flask import Blueprint

bp = Blueprint("reports", __name__)

from webriskops.reports import api, tasks, views  # noqa: E402,F401  (registers views and jobs)
