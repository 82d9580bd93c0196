"""Running one outbox job: load it, run its task in the app context, record the outcome.

``run`` is called by the RQ worker (``worker.run_outbox_job``), by the background pool
of a process without Redis and inline in tests. Each task runs under its registered time
limit (``timeouts.time_limit``; enforced in a worker's main thread).

A job runs at most once at a time: on PostgreSQL the runner holds a session advisory lock
named after the row on a connection of its own, so a second copy of the same job (handed
over twice, or re-enqueued by the sweeper) sees "busy" and stops. The lock goes with the
connection when a worker dies, which is how the sweeper tells a dead job from a running
one. A job that raises is retried through the outbox (``available_at``) with backoff and
is marked ``failed`` after ``MAX_ATTEMPTS``; a job that crashed its worker counts the
attempt too, so a job that always crashes ends up ``failed`` instead of looping.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, text, update

from webriskops.database import is_postgresql
from webriskops.extensions import db
from webriskops.jobs import registry
from webriskops.jobs.timeouts import JobTimeout, time_limit
from webriskops.models import OutboxJob
from webriskops.models.base import as_utc, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_DELAYS = (30, 120, 600, 1800)  # seconds after attempt 1, 2, 3, 4; ±20 % jitter
# Advisory lock keys of outbox rows: this base plus the row id (a namespace of its own).
LOCK_BASE = 0x5752_4F00_0000_0000
_locks = threading.local()


def run(outbox_id: int) -> str:
    """Run the task behind outbox row ``outbox_id`` once; returns what happened.

    Idempotent: a done, failed, not yet due or currently running job is skipped.
    """
    with _exclusive(outbox_id) as acquired:
        if not acquired:
            return "busy"
        return _run_locked(outbox_id)


def is_running(outbox_id: int) -> bool | None:
    """Whether some process runs the job now (None: unknown, SQLite has no such lock)."""
    if not is_postgresql():
        return None
    with _exclusive(outbox_id) as acquired:
        return not acquired


@contextmanager
def _exclusive(outbox_id: int) -> Iterator[bool]:
    if not is_postgresql():
        yield True
        return
    key = LOCK_BASE + outbox_id
    connection = _lock_connection()
    acquired = False
    try:
        acquired = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        yield acquired
    finally:
        try:
            if acquired:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        except Exception:  # noqa: BLE001 - never keep a connection that may hold the lock
            _drop_lock_connection()


def _lock_connection() -> Connection:
    """This thread's autocommit connection for advisory locks, kept for the process's life.

    Taking a lock is then one round trip, with no pool checkout and no commit. Locks are
    re-entrant per connection, so each thread has its own.
    """
    engine = db.engine
    connection: Connection | None = getattr(_locks, "connection", None)
    if connection is not None and connection.engine is not engine:
        _drop_lock_connection()  # another app (tests build many); its locks are released
        connection = None
    if connection is None or connection.closed or connection.invalidated:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        _locks.connection = connection
    return connection


def release_lock_connection() -> None:
    """Give this thread's lock connection back to the engine's pool.

    It holds no lock between jobs (``_exclusive`` unlocks, or drops a connection it could
    not unlock), so it can serve anyone; the next job checks one out again instead of
    opening a new database connection.
    """
    connection = getattr(_locks, "connection", None)
    _locks.connection = None
    if connection is not None:
        connection.close()


def _drop_lock_connection() -> None:
    connection = getattr(_locks, "connection", None)
    _locks.connection = None
    if connection is not None:
        connection.invalidate()
        connection.close()


def _claim(outbox_id: int) -> tuple[str, dict, int] | str:
    """Count an attempt of a due, unfinished row in one statement; or why it cannot run."""
    now = utcnow()
    claimed = db.session.execute(
        update(OutboxJob)
        .where(
            OutboxJob.id == outbox_id,
            OutboxJob.state.in_(("pending", "enqueued")),
            OutboxJob.available_at <= now,
            OutboxJob.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=OutboxJob.attempts + 1, started_at=now)
        .returning(OutboxJob.name, OutboxJob.args, OutboxJob.attempts)
    ).one_or_none()
    if claimed is not None:
        db.session.commit()
        return claimed.name, dict(claimed.args), claimed.attempts
    db.session.rollback()
    job = db.session.get(OutboxJob, outbox_id, populate_existing=True)
    if job is None or job.state in ("done", "failed"):
        db.session.rollback()
        return "skipped"
    if as_utc(job.available_at) > utcnow():
        db.session.rollback()
        return "not due"
    name, attempts = job.name, job.attempts
    _set(outbox_id, state="failed", finished_at=utcnow())
    log.error("outbox job %s (%s) gave up after %d attempts", outbox_id, name, attempts)
    return "failed"


def _run_locked(outbox_id: int) -> str:
    # The attempt is counted before the task runs, so one that kills the worker counts too.
    claimed = _claim(outbox_id)
    if isinstance(claimed, str):
        return claimed
    name, args, attempt = claimed
    task = registry.get(name)
    try:
        with time_limit(task.timeout):
            task.function(**args)
    except Exception as error:
        db.session.rollback()
        if isinstance(error, JobTimeout):
            message = f"JobTimeout: stopped after {task.timeout} s"
        else:
            message = f"{type(error).__name__}: {str(error)[:500]}"
        if attempt >= MAX_ATTEMPTS:
            _set(outbox_id, state="failed", finished_at=utcnow(), last_error=message)
            log.exception("outbox job %s (%s) failed for good", outbox_id, name)
            return "failed"
        delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1] * random.uniform(0.8, 1.2)
        _set(
            outbox_id,
            state="pending",
            available_at=utcnow() + timedelta(seconds=delay),
            last_error=message,
        )
        log.exception("outbox job %s (%s) failed, retry in %.0f s", outbox_id, name, delay)
        return "retry"
    _set(outbox_id, state="done", finished_at=utcnow(), last_error=None)
    log.info("outbox job %s (%s) done", outbox_id, name)
    return "done"


def _set(outbox_id: int, **values) -> None:
    db.session.execute(update(OutboxJob).where(OutboxJob.id == outbox_id).values(**values))
    db.session.commit()
