"""The RQ worker of the Procfile: jobs run inside the Flask app, and the outbox is swept.

``rq worker --worker-class webriskops.jobs.worker.OutboxWorker`` builds the app once in
the parent process (each forked work horse inherits it, minus the database connections,
which a child must not share) and, while idle, sweeps every ``SWEEP_INTERVAL`` seconds:
scan runs whose lease expired are requeued or timed out (``webriskops.scans``), then jobs
that could not be enqueued (Redis was down), retries that have come due and jobs lost
with a dead worker are handed over again.
"""

from __future__ import annotations

import logging
import os
import time

from rq.worker import HerokuWorker

from webriskops.extensions import db

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0
_fork_hook_installed = False


class OutboxWorker(HerokuWorker):
    """A Heroku-friendly RQ worker that runs outbox jobs and sweeps the outbox."""

    _last_sweep: float = 0.0

    def bootstrap(self, *args, **kwargs) -> None:
        """Build the app before the first job, then register the worker as usual."""
        from webriskops.jobs.runner import worker_app

        _install_fork_hook()
        self.app = worker_app()
        super().bootstrap(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """Wait for jobs no longer than a sweep interval, so an idle worker still sweeps."""
        return max(1, min(super().dequeue_timeout, int(SWEEP_INTERVAL)))

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """RQ's own maintenance, or a sweep that has come due."""
        return self._sweep_due() or super().should_run_maintenance_tasks

    def run_maintenance_tasks(self) -> None:
        """Sweep the outbox when due, and run RQ's registry cleaning when that is due."""
        if self._sweep_due():
            self.sweep()
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()

    def sweep(self) -> int:
        """Sweep overdue scan runs, then the outbox, in the app context; logs instead of raising."""
        from webriskops.jobs import outbox
        from webriskops.scans.services import sweep_runs

        self._last_sweep = time.monotonic()
        try:
            with self.app.app_context():
                sweep_runs()  # lease expiry and SCAN_TIMEOUT (API.md 3.9) record outbox work
                handed = outbox.sweep()
                db.session.remove()
        except Exception:  # noqa: BLE001 - a failed sweep is retried at the next interval
            log.exception("outbox sweep failed")
            return 0
        if handed:
            log.info("outbox sweep handed over %d job(s)", handed)
        return handed

    def _sweep_due(self) -> bool:
        return time.monotonic() - self._last_sweep >= SWEEP_INTERVAL


def _install_fork_hook() -> None:
    """Drop inherited pooled connections in forked children (they belong to the parent)."""
    global _fork_hook_installed
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_forget_parent_connections)
        _fork_hook_installed = True


def _forget_parent_connections() -> None:
    from webriskops.jobs.runner import worker_app

    with worker_app().app_context():
        db.engine.dispose(close=False)
