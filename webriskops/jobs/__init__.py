"""Background work: the outbox, its hand-over to RQ after commit, and the jobs themselves."""

from __future__ import annotations

from flask import Flask, Response

from webriskops.jobs import outbox


def init_app(app: Flask) -> None:
    """Hand committed outbox rows over after each request."""
    outbox.install_session_hooks()

    @app.after_request
    def dispatch_committed_jobs(response: Response) -> Response:
        outbox.dispatch_ready()
        return response
