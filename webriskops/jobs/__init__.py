"""Background work: the outbox, its hand-over to RQ after commit, and the jobs themselves."""

from __future__ import annotations

import logging

from flask import Flask, Response

from webriskops.extensions import db
from webriskops.jobs import outbox

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Hand committed outbox rows over after each request."""
    outbox.install_session_hooks()

    @app.after_request
    def dispatch_committed_jobs(response: Response) -> Response:
        # The request's work is committed: a hand-over problem must not turn it into a 500.
        # Whatever was not handed over stays pending for the sweeper.
        try:
            outbox.dispatch_ready()
        except Exception:  # noqa: BLE001
            log.exception("handing committed jobs over failed; the sweeper will retry")
            db.session.rollback()
        return response
