"""Background work: the job registry, the outbox, its hand-over to RQ, the runner, the worker.

The tasks themselves live in their features (``ingest/tasks.py``, ``reports/tasks.py``,
``webhooks/tasks.py``) and register with ``registry.job``; nothing here imports them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, Response

from webriskops.extensions import db
from webriskops.jobs import background, outbox, registry, runner

log = logging.getLogger(__name__)

# Rows younger than this may be in the background pool of a live process: the periodic
# sweep of a process without Redis leaves them to it.
BACKGROUND_GRACE = timedelta(seconds=60)


def init_app(app: Flask) -> None:
    """Hand committed outbox rows over after each request; without Redis, run them here."""
    outbox.install_session_hooks()
    if not app.config.get("REDIS_URL") and app.config.get("JOBS_IN_BACKGROUND"):
        background.install(app, _run_in_background, _sweep_in_background)

        @app.before_request
        def start_background_sweeper() -> None:
            # The first request starts the sweep that picks up what a crash left behind.
            background.pool().start_sweeper()

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


def _run_in_background(outbox_id: int) -> None:
    try:
        runner.run(outbox_id)
        outbox.dispatch_ready()
    finally:
        runner.release_lock_connection()  # back to the engine's pool, not kept per thread


def _sweep_in_background() -> int:
    # As the worker's sweep: the features' steps first (expired leases, API.md 3.9).
    registry.run_sweep_steps()
    return outbox.sweep(older_than=BACKGROUND_GRACE)
