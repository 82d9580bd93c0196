"""The transactional outbox and its hand-over to the queue.

``record`` adds an ``OutboxJob`` row to the current transaction. When that
transaction commits, the new rows become ready and ``dispatch_ready`` hands them to
RQ, each on its task's queue (or, without ``REDIS_URL``, to the process's bounded
background pool, ``background``); on rollback they are forgotten together with the
rows. Anything not handed over (Redis down, process
killed between commit and hand-over) stays ``pending`` and ``sweep`` picks it up, as
it picks up retries once their ``available_at`` has come and jobs whose RQ job was
lost (a worker killed mid-job, Redis restarted empty).

A row is marked ``enqueued`` before it is pushed to Redis (and put back to ``pending``
if the push fails), so a runner never finds a row that is still about to be marked. A
job due at once is written already ``enqueued`` when a queue is configured: the push
follows the commit, and no second transaction is spent on the mark. If the process dies
in between, Redis has no such job and the sweeper's lost-job check hands it over once
``HAND_OVER_GRACE`` has passed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import click
from flask import current_app
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from webriskops.extensions import db
from webriskops.jobs import background, queue, registry, runner
from webriskops.models import OutboxJob, OutboxJobTotal
from webriskops.models.base import as_utc, utcnow
from webriskops.models.outbox import NO_DURATION, duration_bucket

log = logging.getLogger(__name__)

_RECORDED = "webriskops.outbox.recorded"  # (row, due) to write at commit
_NEW = "webriskops.outbox.new"  # ids of due rows written in this transaction
_READY = "webriskops.outbox.ready"
# How many rows one sweep looks at per kind; the next sweep takes the rest.
SWEEP_BATCH = 500
# How long a row written ``enqueued`` may wait for its push before the sweeper calls it
# lost; the push follows the commit within milliseconds.
HAND_OVER_GRACE = timedelta(seconds=30)
# Done rows older than this are folded into ``outbox_job_totals`` (``prune``), at most
# ``PRUNE_BATCH`` per sweep; failed rows stay, as the record of what went wrong.
DONE_RETENTION = timedelta(hours=1)
PRUNE_BATCH = 5000
_hooks_installed = False


def record(
    name: str,
    *,
    available_at: datetime | None = None,
    attempts_made: int = 0,
    last_error: str | None = None,
    **args: int | str,
) -> None:
    """Add a job to the current transaction; it runs only if the transaction commits.

    ``args`` are ids and names only (never payloads or secrets). ``available_at`` delays
    the job: it is then left to the sweeper instead of being handed over at commit.
    ``attempts_made`` and ``last_error`` carry over a first attempt made elsewhere (a
    step of a bigger job). The jobs recorded in a transaction are written together, in
    one ``INSERT``, just before it commits.
    """
    if name not in registry.TASKS:
        raise ValueError(f"unknown job {name!r}")
    now = utcnow()
    due = available_at is None or available_at <= now
    queued = due and bool(current_app.config.get("REDIS_URL"))
    row = {
        "name": name,
        "args": args,
        "state": "enqueued" if queued else "pending",
        "attempts": attempts_made,
        "last_error": last_error,
        "available_at": available_at or now,
        "created_at": now,
        "enqueued_at": now if queued else None,
    }
    db.session.info.setdefault(_RECORDED, []).append((row, due))


def install_session_hooks() -> None:
    """Write recorded jobs at commit, make them ready after it, forget them on rollback.

    Installed once per process, for every session.
    """
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True

    @event.listens_for(Session, "before_commit")
    def _write_recorded(session: Session) -> None:
        recorded = session.info.pop(_RECORDED, None)
        if recorded:
            table = OutboxJob.__table__
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids = session.connection().execute(statement, [row for row, _ in recorded]).scalars()
            due = [
                (job_id, row["name"])
                for job_id, (row, due) in zip(ids, recorded, strict=True)
                if due
            ]
            session.info.setdefault(_NEW, []).extend(due)

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if new := session.info.pop(_NEW, None):
            session.info.setdefault(_READY, []).extend(new)

    @event.listens_for(Session, "after_soft_rollback")
    def _after_rollback(session: Session, _previous) -> None:
        session.info.pop(_RECORDED, None)
        session.info.pop(_NEW, None)


def dispatch_ready() -> int:
    """Hand the jobs committed by this session to the queue; returns how many.

    Without a queue, jobs run inline (tests, ``JOBS_IN_BACKGROUND`` off) or in the
    background pool; inline jobs may record follow-up jobs, so this goes on until nothing
    new is ready.
    """
    handed = 0
    while ready := db.session.info.pop(_READY, None):
        if current_app.config.get("REDIS_URL"):
            handed += _hand_over_fresh(ready)
        elif _in_background():
            handed += background.submit([job_id for job_id, _name in ready])
        else:
            handed += _hand_over(ready)
    return handed


def _in_background() -> bool:
    """Whether jobs without a queue go to the background pool rather than run inline.

    Not inside a command (``flask demo``, ``jobs sweep``): the process exits when the
    command returns, and the interpreter's shutdown would cut the pool's work off
    half-way. Click keeps its context per thread, so ``flask run``'s request threads
    still use the pool.
    """
    return bool(current_app.config.get("JOBS_IN_BACKGROUND")) and (
        click.get_current_context(silent=True) is None
    )


def _hand_over_fresh(ready: list[tuple[int, str]]) -> int:
    """Push just-committed rows (written ``enqueued``) to RQ in one Redis round trip."""
    ids = [job_id for job_id, _name in ready]
    try:
        queue.enqueue_fresh([(job_id, registry.get(name).queue) for job_id, name in ready])
    except Exception as error:  # noqa: BLE001 - the sweeper hands them over later
        db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id.in_(ids), OutboxJob.state == "enqueued")
            .values(state="pending")
        )
        db.session.commit()
        log.warning(
            "queue unavailable, %d outbox jobs stay pending: %s", len(ids), type(error).__name__
        )
        return 0
    return len(ids)


def sweep(*, older_than: timedelta | None = None) -> int:
    """Hand over every due pending job and re-enqueue jobs the queue lost; returns how many.

    Old done rows are pruned on the way (``prune``).

    ``older_than`` leaves alone pending rows created more recently (the background pool
    of a live process may be about to run them).
    """
    now = utcnow()
    query = (
        select(OutboxJob.id, OutboxJob.name)
        .where(OutboxJob.state == "pending", OutboxJob.available_at <= now)
        .order_by(OutboxJob.id)
        .limit(SWEEP_BATCH)
    )
    if older_than is not None:
        query = query.where(OutboxJob.created_at <= now - older_than)
    due = [(job_id, name) for job_id, name in db.session.execute(query)]
    prune()
    lost = _lost_jobs() if current_app.config.get("REDIS_URL") else []
    db.session.rollback()
    return _hand_over(due) + _hand_over(lost, replace=True) + dispatch_ready()


def prune() -> int:
    """Fold old done rows into ``outbox_job_totals`` and delete them; returns how many.

    The table would otherwise grow by a few rows per scan run for ever, and ``/metrics``
    (which counts jobs from it) would read all of them at every scrape. The delete
    returns the rows it removed, so two sweepers pruning at once never count one twice.
    """
    cutoff = utcnow() - DONE_RETENTION
    oldest = (
        select(OutboxJob.id)
        .where(OutboxJob.state == "done", OutboxJob.available_at < cutoff)
        .where(OutboxJob.finished_at < cutoff)
        .order_by(OutboxJob.id)
        .limit(PRUNE_BATCH)
    )
    removed = db.session.execute(
        delete(OutboxJob)
        .where(OutboxJob.id.in_(oldest.scalar_subquery()))
        .returning(OutboxJob.name, OutboxJob.started_at, OutboxJob.finished_at)
    ).all()
    totals: dict[tuple[str, int], list[float]] = {}
    for name, started_at, finished_at in removed:
        seconds, bucket = 0.0, NO_DURATION  # done before start times were recorded
        if started_at and finished_at:
            seconds = max(0.0, (as_utc(finished_at) - as_utc(started_at)).total_seconds())
            bucket = duration_bucket(seconds)
        total = totals.setdefault((name, bucket), [0, 0.0])
        total[0] += 1
        total[1] += seconds
    if totals:
        statement = _ADD_TOTALS[db.session.get_bind().dialect.name]
        db.session.execute(
            statement,
            [
                {"name": name, "bucket": bucket, "count": count, "seconds": seconds}
                for (name, bucket), (count, seconds) in totals.items()
            ],
        )
    db.session.commit()
    return len(removed)


def _add_totals(dialect_insert):
    table = OutboxJobTotal.__table__
    statement = dialect_insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.name, table.c.bucket],
        set_={
            "count": table.c.count + statement.excluded.count,
            "seconds": table.c.seconds + statement.excluded.seconds,
        },
    )


# Add to a task's totals, or start them (built once per dialect).
_ADD_TOTALS = {
    name: _add_totals(dialect_insert)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


def _lost_jobs() -> list[tuple[int, str]]:
    """Rows marked ``enqueued`` whose RQ job will never run them.

    That is: Redis has no such job, or it finished or failed without the row being done
    (the runner's last commit failed, or RQ gave up), or it is "started" but no process
    holds the row's run lock (the worker was killed mid-job).
    """
    enqueued = {
        job_id: (enqueued_at, name)
        for job_id, enqueued_at, name in db.session.execute(
            select(OutboxJob.id, OutboxJob.enqueued_at, OutboxJob.name)
            .where(OutboxJob.state == "enqueued")
            .order_by(OutboxJob.id)
            .limit(SWEEP_BATCH)
        )
    }
    if not enqueued:
        return []
    try:
        statuses = queue.statuses(list(enqueued))
    except Exception as error:  # noqa: BLE001 - Redis down: nothing to compare with now
        log.warning("queue unavailable, lost jobs not checked: %s", type(error).__name__)
        return []
    recent = utcnow() - HAND_OVER_GRACE
    lost = []
    for outbox_id, status in statuses.items():
        if status in queue.WAITING:
            continue
        enqueued_at = enqueued[outbox_id][0]
        if status is None and enqueued_at and as_utc(enqueued_at) > recent:
            continue  # committed a moment ago; its push may still be on the way
        # "started", or taken into another job's batch (its RQ job is gone): lost only if
        # no live process holds the row's lock.
        if status in (None, "started") and runner.is_running(outbox_id):
            continue
        lost.append(outbox_id)
    if not lost:
        return []
    # A job may have finished between the two reads; only rows still enqueued are lost.
    return [
        (job_id, enqueued[job_id][1])
        for job_id in db.session.scalars(
            select(OutboxJob.id)
            .where(OutboxJob.id.in_(lost), OutboxJob.state == "enqueued")
            .order_by(OutboxJob.id)
        )
    ]


def _hand_over(jobs: list[tuple[int, str]], *, replace: bool = False) -> int:
    if not jobs:
        return 0
    if not current_app.config.get("REDIS_URL"):
        if _in_background():
            return background.submit([job_id for job_id, _name in jobs])
        for job_id, _name in jobs:
            runner.run(job_id)
        return len(jobs)
    handed = 0
    for job_id, name in jobs:
        marked = db.session.execute(
            update(OutboxJob)
            .where(OutboxJob.id == job_id, OutboxJob.state.in_(("pending", "enqueued")))
            .values(state="enqueued", enqueued_at=utcnow())
        ).rowcount
        db.session.commit()
        if not marked:
            continue  # done or given up meanwhile
        try:
            queue.enqueue_outbox_job(job_id, registry.get(name).queue, replace=replace)
        except Exception as error:  # noqa: BLE001 - the sweeper retries whatever failed
            db.session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job_id, OutboxJob.state == "enqueued")
                .values(state="pending")
            )
            db.session.commit()
            log.warning(
                "queue unavailable, outbox job %s stays pending: %s", job_id, type(error).__name__
            )
            break
        handed += 1
    return handed
