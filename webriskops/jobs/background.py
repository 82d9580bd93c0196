"""The background pool of a process without Redis: after-commit work off the request path.

Without ``REDIS_URL`` (the embedded default) the postback's 202 goes out first and its
jobs run in this process in a few threads (``WORKERS``). The backlog is bounded
(``MAX_BACKLOG`` jobs): beyond it jobs stay ``pending`` in the outbox, where the pool's
periodic sweep (every ``SWEEP_INTERVAL`` seconds, the first one at start-up) finds them,
as it finds the jobs of a process that crashed. The pool takes what to run as a
function, so it knows nothing of the outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app

from webriskops.extensions import db

log = logging.getLogger(__name__)

WORKERS = 2
MAX_BACKLOG = 1000
SWEEP_INTERVAL = 30.0
_EXTENSION = "webriskops.background"


class BackgroundPool:
    """A bounded thread pool that runs jobs in the app context, plus a periodic sweep."""

    def __init__(self, app: Flask, run: Callable[[int], object], sweep: Callable[[], int]) -> None:
        self.app = app
        self.run = run
        self.sweep = sweep
        self.slots = threading.BoundedSemaphore(MAX_BACKLOG)
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="wro-jobs")
        self.stopped = threading.Event()
        self.sweeper: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, ids: list[int]) -> int:
        """Queue jobs; returns how many were taken (the rest wait for the sweep)."""
        self.start_sweeper()
        taken = 0
        for job_id in ids:
            if not self.slots.acquire(blocking=False):
                log.warning(
                    "background backlog full; %d job(s) wait for the sweep", len(ids) - taken
                )
                break
            self.executor.submit(self._run, job_id)
            taken += 1
        return taken

    def _run(self, job_id: int) -> None:
        try:
            with self.app.app_context():
                try:
                    self.run(job_id)
                finally:
                    db.session.remove()
        except Exception:  # noqa: BLE001 - the outbox row keeps the job; the sweep retries it
            log.exception("background job %s failed", job_id)
        finally:
            self.slots.release()

    def start_sweeper(self) -> None:
        """Start the periodic sweep once per process (its first round runs at once)."""
        with self.lock:
            if self.sweeper is None:
                self.sweeper = threading.Thread(
                    target=self._sweep_forever, name="wro-sweeper", daemon=True
                )
                self.sweeper.start()

    def _sweep_forever(self) -> None:
        while not self.stopped.is_set():
            try:
                with self.app.app_context():
                    try:
                        self.sweep()
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - tried again at the next interval
                log.exception("background sweep failed")
            self.stopped.wait(SWEEP_INTERVAL)

    def shutdown(self) -> None:
        """Stop sweeping and wait for the running jobs."""
        self.stopped.set()
        self.executor.shutdown(wait=True)


def install(app: Flask, run: Callable[[int], object], sweep: Callable[[], int]) -> None:
    """Give ``app`` a background pool (started on first use, not at import)."""
    app.extensions[_EXTENSION] = BackgroundPool(app, run, sweep)


def pool() -> BackgroundPool:
    """The current app's background pool."""
    return current_app.extensions[_EXTENSION]


def submit(ids: list[int]) -> int:
    """Run jobs in the current app's background pool; returns how many were taken."""
    return pool().submit(ids)
