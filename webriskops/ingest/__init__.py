"""The ``ingest`` blueprint: ``POST /api/scanner/results``."""

from flask import Blueprint

bp = Blueprint("ingest", __name__)

from webriskops.ingest import routes  # noqa: E402,F401  (registers the views)
