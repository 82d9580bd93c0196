"""The RQ worker of the Procfile: a long-lived process that runs outbox jobs in batches.

``rq worker --worker-class webriskops.jobs.worker.OutboxWorker webriskops`` builds the
Flask app once and runs every job in its own process (RQ's non-forking ``SimpleWorker``):
a fork per job cost about 40 ms here, more than most jobs, and a fresh database
connection per child on top. Connections stay pooled for the life of the worker. No
work forks: a task that crashes the whole process (it never has) costs one attempt of
its outbox row, and the process manager starts the worker again.

One RQ job runs its outbox row and then takes further waiting rows of the same queue
(``queue.take_waiting``, ``TAKE_SIZE`` at a time) for up to ``BATCH_SIZE`` rows or
``queue.BATCH_SECONDS``, so a backlog costs one RQ round trip per batch. The rows taken
together are locked and claimed together (``runner.run_batch``); each still runs under
its task's own time limit. While idle, the worker sweeps every ``SWEEP_INTERVAL`` seconds: scan runs
whose lease expired are requeued or timed out (``webriskops.scans``), then the outbox.

When Redis goes away, the worker waits for it (with backoff) and carries on instead of
exiting. RQ's own log lines go out as the app's JSON lines, one per event, with any
traceback in the ``exception`` field.
"""

from __future__ import annotations

import logging
import sys
import time

import redis.exceptions
from flask import Flask, has_app_context
from rq import get_current_job
from rq.worker import SimpleWorker

from webriskops import heap
from webriskops.database import relax_commits
from webriskops.extensions import db
from webriskops.jobs import outbox, queue, registry, runner
from webriskops.observability import JsonFormatter

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0
BATCH_SIZE = 50
# Rows taken from the queue at a time: locked and claimed together (``runner.run_batch``),
# so a worker killed mid-batch has counted an attempt of at most this many unstarted rows.
TAKE_SIZE = 10
REDIS_WAIT_MAX = 30.0  # seconds between reconnection tries, at most
_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The app of a worker process (created once, on first use)."""
    global _worker_app
    if _worker_app is None:
        from webriskops import create_app  # the app imports every feature: build it on use

        _worker_app = create_app()
        with _worker_app.app_context():
            relax_commits(db.engine)
    return _worker_app


def run_outbox_job(outbox_id: int) -> list[str]:
    """RQ entry point: run one outbox row, then more waiting rows of the same queue.

    Returns the outcome of each row run. Jobs the rows record are handed over after
    each row.
    """
    if has_app_context():
        return _run_batch(outbox_id)
    with worker_app().app_context():
        return _run_batch(outbox_id)


def _run_batch(outbox_id: int) -> list[str]:
    current = get_current_job()
    queue_name = current.origin if current is not None else queue.QUEUE_NAME
    stop_at = time.monotonic() + queue.BATCH_SECONDS
    outcomes = _run_rows([outbox_id])
    while len(outcomes) < BATCH_SIZE and time.monotonic() < stop_at:
        taken = queue.take_waiting(queue_name, min(TAKE_SIZE, BATCH_SIZE - len(outcomes)))
        if not taken:
            break
        outcomes.extend(_run_rows(taken))
    return outcomes


def _run_rows(outbox_ids: list[int]) -> list[str]:
    try:
        return runner.run_batch(outbox_ids)
    finally:
        outbox.dispatch_ready()


class OutboxWorker(SimpleWorker):
    """A non-forking RQ worker that runs outbox jobs in the app and sweeps the outbox."""

    _last_sweep: float = 0.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _log_rq_as_json()

    def bootstrap(self, *args, **kwargs) -> None:
        """Build the app before the first job, then register the worker as usual."""
        self.app = worker_app()
        heap.settle()
        super().bootstrap(*args, **kwargs)

    def work(self, burst: bool = False, **kwargs) -> bool:
        """RQ's work loop, started again after Redis came back instead of exiting."""
        wait = 1.0
        while True:
            try:
                worked = super().work(burst=burst, **kwargs)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                worked = False  # lost Redis while tearing down
            if burst or self._stop_requested or self._redis_answers():
                return worked
            log.warning("Redis is unreachable; worker %s waits for it", self.name)
            while not self._stop_requested and not self._redis_answers():
                time.sleep(wait)
                wait = min(wait * 2, REDIS_WAIT_MAX)
            if self._stop_requested:
                return worked
            log.info("Redis is back; worker %s carries on", self.name)
            wait = 1.0
            try:
                self.register_death()  # a blip left our old registration behind
            except redis.exceptions.RedisError:
                continue

    def _redis_answers(self) -> bool:
        try:
            return bool(self.connection.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return False

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
        self._last_sweep = time.monotonic()
        try:
            with self.app.app_context():
                registry.run_sweep_steps()  # lease expiry and SCAN_TIMEOUT (API.md 3.9)
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


def _log_rq_as_json() -> None:
    """Send RQ's log records through one JSON handler instead of its plain-text ones.

    ``rq worker`` gives ``rq.worker`` and ``rq.job`` plain handlers of their own before the
    worker class exists; they are replaced by propagation to one JSON handler on ``rq``.
    """
    for name in ("rq.worker", "rq.job"):
        child = logging.getLogger(name)
        for handler in list(child.handlers):
            child.removeHandler(handler)
        child.propagate = True
    rq_log = logging.getLogger("rq")
    if any(getattr(handler, "_webriskops", False) for handler in rq_log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._webriskops = True  # type: ignore[attr-defined]
    rq_log.addHandler(handler)
    rq_log.setLevel(logging.INFO)
    rq_log.propagate = False
