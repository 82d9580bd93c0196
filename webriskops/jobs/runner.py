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

import functools
import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import BigInteger, Connection, Update, bindparam, select, text, update

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
    return run_batch([outbox_id])[0]


def run_batch(outbox_ids: list[int]) -> list[str]:
    """Run the tasks behind several outbox rows, one after the other; what happened to each.

    On PostgreSQL the rows' locks are taken and their attempts counted in one statement
    (committed on its own) before the first task runs, so a row costs its task, its
    "done" mark and little else (one by one, locking and claiming were a third of a small
    job). A worker killed mid-batch has counted an attempt for the rows it had not
    reached yet: they are swept and run again like the one it was running. A row named
    twice runs once (the second is "skipped").
    """
    unique = list(dict.fromkeys(outbox_ids))
    with _exclusive_claim(unique) as (acquired, claimed):
        outcomes = {}
        for outbox_id in unique:
            if outbox_id not in acquired:
                outcomes[outbox_id] = "busy"
            elif outbox_id in claimed:
                outcomes[outbox_id] = _perform(outbox_id, *claimed[outbox_id])
            else:
                outcomes[outbox_id] = _unclaimed(outbox_id)
    return [outcomes.pop(outbox_id, "skipped") for outbox_id in outbox_ids]


def is_running(outbox_id: int) -> bool | None:
    """Whether some process runs the job now (None: unknown, SQLite has no such lock)."""
    if not is_postgresql():
        return None
    with _exclusive([outbox_id]) as acquired:
        return not acquired


@contextmanager
def _exclusive(outbox_ids: list[int]) -> Iterator[set[int]]:
    """The rows of ``outbox_ids`` (distinct) this process could lock, held until the end."""
    if not is_postgresql():
        yield set(outbox_ids)
        return
    keys = [LOCK_BASE + outbox_id for outbox_id in outbox_ids]
    connection = _lock_connection()
    locked: set[int] = set()
    try:
        locked = set(connection.scalars(_TRY_LOCKS, {"keys": keys}))
        yield locked
    finally:
        _unlock(connection, [LOCK_BASE + outbox_id for outbox_id in locked])


@contextmanager
def _exclusive_claim(
    outbox_ids: list[int],
) -> Iterator[tuple[set[int], dict[int, tuple[str, dict, int]]]]:
    """Lock the rows of ``outbox_ids`` (distinct) and claim the locked ones (``_claim``).

    Yields the rows this process could lock, held until the end, and what ``_claim``
    returns for those it claimed. On PostgreSQL both happen in one statement on the lock
    connection, committed by itself: four round trips fewer per batch than locking, then
    claiming through the session (its checkout's ping, ``BEGIN``, the ``UPDATE``,
    ``COMMIT``).
    """
    if not is_postgresql():
        yield set(outbox_ids), _claim(outbox_ids)
        return
    keys = [LOCK_BASE + outbox_id for outbox_id in outbox_ids]
    connection = _lock_connection()
    try:
        rows = connection.execute(_LOCK_AND_CLAIM, {"keys": keys, "now": utcnow()}).all()
    except Exception:
        # Locks taken by a statement that failed stay taken; only closing the session
        # gives them back.
        _drop_lock_connection()
        raise
    acquired = [LOCK_BASE + row.id for row in rows]
    try:
        yield (
            {row.id for row in rows},
            {row.id: (row.name, dict(row.args), row.attempts) for row in rows if row.name},
        )
    finally:
        _unlock(connection, acquired)


def _unlock(connection: Connection, keys: list[int]) -> None:
    try:
        if keys:
            connection.execute(_UNLOCK, {"keys": keys})
    except Exception:  # noqa: BLE001 - never keep a connection that may hold a lock
        _drop_lock_connection()


# One round trip for a batch's locks: the ids of the rows this connection could lock;
# and one to give them back.
_TRY_LOCKS = (
    text(
        "SELECT key - :lock_base AS id FROM unnest(CAST(:keys AS bigint[])) AS key"
        " WHERE pg_try_advisory_lock(key)"
    )
    .bindparams(lock_base=LOCK_BASE)
    .columns(id=BigInteger)
)
_UNLOCK = text("SELECT pg_advisory_unlock(key) FROM unnest(CAST(:keys AS bigint[])) AS key")
_LOCKED = _TRY_LOCKS.cte("locked")


def _claim_of(ids) -> Update:
    """Count an attempt of each due, unfinished row of ``ids``; return what runs it.

    Built once per form (``_CLAIM``, ``_LOCK_AND_CLAIM``): per batch, building it cost
    more CPU than running it.
    """
    table = OutboxJob.__table__
    return (
        update(table)
        .where(
            table.c.id.in_(ids),
            table.c.state.in_(("pending", "enqueued")),
            table.c.available_at <= bindparam("now"),
            table.c.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=table.c.attempts + 1, started_at=bindparam("now"))
        .returning(table.c.id, table.c.name, table.c.args, table.c.attempts)
    )


_CLAIM = _claim_of(bindparam("ids", expanding=True))
# The batch's locks and the claim of the rows locked, in one round trip: every row this
# connection locked, with its task name, arguments and attempt if it was claimed (a row
# it locked but could not claim has no name). The lock CTE is evaluated once per key, as a
# volatile CTE always is; the ``UPDATE`` sees a row as it is when it gets there, so a
# row another worker finished (and unlocked) after this statement began is not claimed.
_CLAIMED = _claim_of(select(_LOCKED.c.id)).cte("claimed")
_LOCK_AND_CLAIM = select(
    _LOCKED.c.id, _CLAIMED.c.name, _CLAIMED.c.args, _CLAIMED.c.attempts
).select_from(_LOCKED.outerjoin(_CLAIMED, _CLAIMED.c.id == _LOCKED.c.id))


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


def _claim(outbox_ids: list[int]) -> dict[int, tuple[str, dict, int]]:
    """Count an attempt of each due, unfinished row in one statement and commit.

    Returns each claimed row's task name, arguments and attempt number. The attempt is
    counted before the task runs, so one that kills the worker counts too.
    """
    if not outbox_ids:
        return {}
    claimed = db.session.execute(_CLAIM, {"ids": outbox_ids, "now": utcnow()}).all()
    db.session.commit()
    return {row.id: (row.name, dict(row.args), row.attempts) for row in claimed}


def _unclaimed(outbox_id: int) -> str:
    """Why a row could not be claimed: gone or finished, not due, or out of attempts."""
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


def _perform(outbox_id: int, name: str, args: dict, attempt: int) -> str:
    """Run a claimed row's task under its time limit and record the outcome."""
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
    db.session.execute(
        _set_statement(frozenset(values)),
        {"outbox_id": outbox_id, **{f"new_{name}": value for name, value in values.items()}},
    )
    db.session.commit()


@functools.cache
def _set_statement(names: frozenset[str]) -> Update:
    """``UPDATE outbox_jobs SET <names> WHERE id = :outbox_id``, built once per set of names.

    On the table, not the mapped class: the ORM's bulk-update steps (the session's
    autoflush, its compile state) cost about 0.1 ms of CPU per statement and do nothing
    for a row the session never loads; the commit right after flushes the session anyway.
    """
    table = OutboxJob.__table__
    # Bound as ``new_<name>``: SQLAlchemy keeps a column's own name for its SET value.
    return (
        update(table)
        .where(table.c.id == bindparam("outbox_id"))
        .values({name: bindparam(f"new_{name}") for name in sorted(names)})
    )
