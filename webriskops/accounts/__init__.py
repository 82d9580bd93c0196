"""The ``accounts`` blueprint: self-service administration (contract section 4.1).

Every member manages their own API tokens; owners invite and manage members, manage
webhook endpoints and create projects. ``routes`` is thin, ``forms`` holds the
CSRF-protected forms, ``services`` the rules and transactions (no HTTP in there).
"""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from webriskops.accounts import routes  # noqa: E402,F401  (registers the views)
