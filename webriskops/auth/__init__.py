"""The ``auth`` blueprint: the scanner's shared secret, customer login and API tokens."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webriskops.auth import routes  # noqa: E402,F401  (registers the views)
