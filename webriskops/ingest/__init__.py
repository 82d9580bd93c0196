"""The ``ingest`` blueprint: ``POST /api/scanner/results``, and the work after a run finishes."""

from flask import Blueprint

bp = Blueprint("ingest", __name__)

from webriskops.ingest import routes, tasks  # noqa: E402,F401  (registers views and jobs)
