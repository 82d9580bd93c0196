"""Scan runs and their credits: creating runs, dispatching them to scanners, failing them.

The ``scans`` blueprint carries the dispatch endpoints (``POST /api/scanner/runs/claim``,
``POST /api/scanner/runs/<id>/heartbeat``) and customer cancel (API and run page).
"""

from flask import Blueprint

bp = Blueprint("scans", __name__)

from webriskops.scans import routes  # noqa: E402,F401  (registers the views)
