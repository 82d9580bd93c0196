"""The background pool of a process without Redis: after-commit work off the request path.

Without ``REDIS_URL`` (the embedded default) the postback's 202 goes out first and its
jobs run in this process in a few threads (``WORKERS``). The backlog is bounded
(``MAX_BACKLOG`` jobs): beyond it jobs stay ``pending`` in the outbox, where the pool's
periodic sweep (every ``SWEEP_INTERVAL`` seconds, the first one at start-up) finds them,
as it finds the jobs of a process that crashed. The pool takes what to run as a
function, so it knows nothing of the outbox.

Requests come first. The jobs share the process, and its one interpreter lock, with the
requests it serves: jobs that run while requests are in flight slow every one of them
(a burst of postbacks was accepted at 67/s instead of 170/s). So jobs run freely once
the process has served no request for ``QUIET_SECONDS``; while it serves requests, one
job at a time runs, each followed by a pause that keeps the jobs to ``LOADED_SHARE``
of the time. Steady traffic slows the work down but never starves it.
``count_requests`` wraps the app to tell the pool when requests are in flight.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from flask import Flask, current_app

from webriskops.extensions import db

log = logging.getLogger(__name__)

WORKERS = 2
MAX_BACKLOG = 1000
SWEEP_INTERVAL = 30.0
SWEEP_JOIN_SECONDS = 10.0
QUIET_SECONDS = 0.05
LOADED_SHARE = 0.25
# After a job run under load, the next one waits this many times as long as it took.
_LOADED_PAUSE = 1 / LOADED_SHARE - 1
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
        self.turns = threading.Condition()
        self.requests_in_flight = 0
        self.last_request_at = 0.0
        self.loaded_turn_taken = False
        self.next_loaded_turn_at = 0.0

    def request_started(self) -> None:
        """A request of this process began: jobs not yet started wait for their turn."""
        with self.turns:
            self.requests_in_flight += 1

    def request_finished(self) -> None:
        """A request of this process ended: jobs may start once the process is quiet."""
        with self.turns:
            self.requests_in_flight -= 1
            self.last_request_at = time.monotonic()
            self.turns.notify_all()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for a job's turn (see the module's docstring) and hold it while it runs."""
        loaded = self._take_turn()
        started = time.monotonic()
        try:
            yield
        finally:
            if loaded:
                with self.turns:
                    ended = time.monotonic()
                    self.loaded_turn_taken = False
                    self.next_loaded_turn_at = ended + (ended - started) * _LOADED_PAUSE
                    self.turns.notify_all()

    def _take_turn(self) -> bool:
        """Wait until the process is quiet (False) or the turn under load is free (True)."""
        with self.turns:
            while True:
                now = time.monotonic()
                wait = math.inf
                if not self.requests_in_flight:
                    idle = now - self.last_request_at
                    if idle >= QUIET_SECONDS:
                        return False
                    wait = QUIET_SECONDS - idle
                if not self.loaded_turn_taken:
                    if now >= self.next_loaded_turn_at:
                        self.loaded_turn_taken = True
                        return True
                    wait = min(wait, self.next_loaded_turn_at - now)
                self.turns.wait(None if wait == math.inf else wait)

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
            with self.turn(), self.app.app_context():
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
        """Stop sweeping and wait for the running jobs and sweep."""
        self.stopped.set()
        self.executor.shutdown(wait=True)
        if self.sweeper is not None:
            self.sweeper.join(SWEEP_JOIN_SECONDS)


def install(app: Flask, run: Callable[[int], object], sweep: Callable[[], int]) -> None:
    """Give ``app`` a background pool (started on first use, not at import)."""
    app.extensions[_EXTENSION] = background = BackgroundPool(app, run, sweep)
    app.wsgi_app = count_requests(app.wsgi_app, background)


def count_requests(wsgi_app: Callable, background: BackgroundPool) -> Callable:
    """Wrap a WSGI app so that ``background`` knows when requests are in flight."""

    def counted(environ: dict, start_response: Callable) -> Iterable[bytes]:
        background.request_started()
        try:
            return wsgi_app(environ, start_response)
        finally:
            background.request_finished()

    return counted


def pool() -> BackgroundPool:
    """The current app's background pool."""
    return current_app.extensions[_EXTENSION]


def submit(ids: list[int]) -> int:
    """Run jobs in the current app's background pool; returns how many were taken."""
    return pool().submit(ids)
