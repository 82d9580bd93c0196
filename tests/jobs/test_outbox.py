"""The outbox with a real Redis: after commit only, nothing lost in an outage, nothing twice."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from rq import Queue
from sqlalchemy import select, update

from tests import payloads
from tests.jobs.conftest import SECRET_HTML, outbox_rows, work
from webriskops.extensions import db
from webriskops.ingest import tasks
from webriskops.jobs import outbox, queue, registry
from webriskops.jobs import runner as job_runner
from webriskops.models import Artifact, OutboxJob, ScanRun
from webriskops.models.base import utcnow
from webriskops.storage import storage

# What a postback records: one job that does the whole run's after-commit work.
FINISH = "finish_scan_run"


def upload_artifacts(run_id: int) -> None:
    store = storage()
    store.put(f"scan-runs/{run_id}/page-0.png", b"\x89PNG fake", "image/png")
    store.put(f"scan-runs/{run_id}/page-0.html", SECRET_HTML.encode(), "text/html")


def queued_ids() -> list[str]:
    return Queue(queue.QUEUE_NAME, connection=queue.connection()).get_job_ids()


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_jobs_are_enqueued_only_after_commit_and_run_by_a_worker(
    app, post, make_run, database_url, monkeypatch
):
    run = make_run()
    upload_artifacts(run.id)
    seen: list[tuple[str, int]] = []
    enqueue = queue.enqueue_fresh

    def enqueue_and_look(rows: list[tuple[int, str]]) -> None:
        # What a worker would see at this moment, through a connection of its own.
        with psycopg.connect(plain_url(database_url)) as other:
            for outbox_id, _queue_name in rows:
                status = other.execute("SELECT status FROM scan_runs WHERE id = %s", (run.id,))
                row = other.execute("SELECT name FROM outbox_jobs WHERE id = %s", (outbox_id,))
                seen.append((status.fetchone()[0], row.fetchone() is not None))
        enqueue(rows)

    monkeypatch.setattr(queue, "enqueue_fresh", enqueue_and_look)
    response = post(payloads.completed(run.id))
    assert response.status_code == 202
    assert seen == [("completed", True)]
    rows = outbox_rows()
    assert [(row.name, row.state) for row in rows] == [(FINISH, "enqueued")]
    assert len(queued_ids()) == 1

    work()

    # The one job did the run's whole work: no further job, no further queue round trip.
    rows = outbox_rows()
    assert [(row.name, row.state, row.attempts) for row in rows] == [(FINISH, "done", 1)]
    assert seen == [("completed", True)]
    run = db.session.get(ScanRun, run.id)
    assert run.report_status == "ready"
    assert b"[REDACTED:" in storage().get(f"scan-runs/{run.id}/page-0.html")


def test_a_rolled_back_postback_enqueues_and_runs_nothing(app, post, make_run, monkeypatch):
    from webriskops.ingest import service

    run = make_run()

    def fail_after_storing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom after the jobs were recorded")

    monkeypatch.setattr(service, "_response", fail_after_storing)
    assert post(payloads.completed(run.id)).status_code == 500

    assert outbox_rows() == []
    assert queued_ids() == []
    work()
    db.session.rollback()
    assert db.session.get(ScanRun, run.id).status == "queued"


def test_recorded_jobs_are_forgotten_on_rollback(app, make_run):
    run = make_run()
    outbox.record("generate_report", scan_run_id=run.id)
    db.session.rollback()
    db.session.commit()
    assert outbox.dispatch_ready() == 0
    assert outbox_rows() == []


def test_a_redis_outage_during_postbacks_loses_no_job(app, post, make_run, runner, redis_url):
    from tests.conftest import free_port
    from webriskops.redis_client import create_client

    runs = [make_run() for _ in range(3)]
    for run in runs:
        upload_artifacts(run.id)

    # Redis "down": nothing listens on this port.
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app.extensions["redis"] = create_client(app.config["REDIS_URL"])
    started = time.monotonic()
    assert post(payloads.completed(runs[0].id)).status_code == 202
    assert post(payloads.failed(runs[1].id)).status_code == 202
    assert post(payloads.completed(runs[2].id)).status_code == 202
    assert time.monotonic() - started < 10
    rows = outbox_rows()
    assert [row.name for row in rows] == [FINISH] * 3
    assert {row.state for row in rows} == {"pending"}

    # Redis back: the sweeper hands everything over, once.
    app.config["REDIS_URL"] = redis_url
    app.extensions["redis"] = create_client(redis_url)
    assert queued_ids() == []
    result = runner.invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0, repr(result.exception)
    assert result.stdout == '{"enqueued":3}\n'
    assert orjson.loads(result.stdout) == {"enqueued": 3}
    assert len(queued_ids()) == 3
    assert runner.invoke(args=["jobs", "sweep"]).stdout == '{"enqueued":0}\n'

    work()
    rows = outbox_rows()
    assert len(rows) == 3
    assert {row.state for row in rows} == {"done"}
    assert all(row.attempts == 1 for row in rows)
    db.session.rollback()
    assert db.session.get(ScanRun, runs[0].id).report_status == "ready"
    assert db.session.get(ScanRun, runs[2].id).report_status == "ready"


def test_a_job_handed_over_twice_runs_once(app, post, make_run):
    run = make_run()
    upload_artifacts(run.id)
    post(payloads.completed(run.id))
    for row in outbox_rows():
        queue.enqueue_outbox_job(row.id)  # a second hand-over of a waiting job is a no-op
    assert len(queued_ids()) == 1
    work()
    ids = [row.id for row in outbox_rows()]
    for outbox_id in ids:
        queue.enqueue_outbox_job(outbox_id)  # finished jobs are replaced: they run again
    work()
    rows = outbox_rows()
    assert [row.name for row in rows] == [FINISH]
    assert {row.state for row in rows} == {"done"}
    assert all(row.attempts == 1 for row in rows)  # the second run was skipped as done


def test_a_failing_job_is_retried_later_without_waiting_then_given_up(
    app, post, make_run, monkeypatch
):
    run = make_run()
    upload_artifacts(run.id)
    calls: list[int] = []

    def broken(scan_run_id: int) -> None:
        calls.append(scan_run_id)
        raise OSError("storage unreachable")

    # Inside the run's job the step fails and is split off as a job of its own.
    monkeypatch.setattr(tasks, "_collect", lambda scan_run_id, present: broken(scan_run_id))
    task = registry.TASKS["collect_artifacts"]
    monkeypatch.setitem(registry.TASKS, "collect_artifacts", replace(task, function=broken))
    post(payloads.completed(run.id))
    work()
    finish = next(row for row in outbox_rows() if row.name == FINISH)
    assert finish.state == "done"
    job = next(row for row in outbox_rows() if row.name == "collect_artifacts")
    # Tried with the other steps, then alone within the run's job: one attempt counted.
    assert (job.state, job.attempts, calls) == ("pending", 1, [run.id, run.id])
    assert job.last_error == "OSError: storage unreachable"
    assert job.available_at > utcnow() + timedelta(seconds=20)
    db.session.rollback()
    assert db.session.get(ScanRun, run.id).report_status == "ready"  # the other steps ran

    assert outbox.sweep() == 0  # not due yet
    for _ in range(2, job_runner.MAX_ATTEMPTS + 1):
        make_due(job.id)
        assert outbox.sweep() == 1
        work()
    job = next(row for row in outbox_rows() if row.name == "collect_artifacts")
    assert (job.state, job.attempts) == ("failed", job_runner.MAX_ATTEMPTS)
    assert len(calls) == job_runner.MAX_ATTEMPTS + 1
    make_due(job.id)
    assert outbox.sweep() == 0


def make_due(outbox_id: int) -> None:
    """Let the clock run to a job's ``available_at`` (the test does not wait for real)."""
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == outbox_id)
        .values(available_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_the_sweeper_replaces_a_job_redis_lost(app, post, make_run):
    run = make_run()
    post(payloads.failed(run.id))
    queue.connection().flushdb()  # Redis restarted empty
    assert outbox.sweep() == 0  # within the grace: the push might still be on its way
    age_hand_overs()
    assert outbox.sweep() == 1
    work()
    rows = outbox_rows()
    assert [row.name for row in rows] == [FINISH]
    assert {row.state for row in rows} == {"done"}


def test_jobs_committed_but_never_pushed_are_handed_over_by_the_sweeper(
    app, post, make_run, monkeypatch
):
    run = make_run()
    upload_artifacts(run.id)
    # The process dies between the commit and the push to Redis.
    monkeypatch.setattr(queue, "enqueue_fresh", lambda rows: None)
    assert post(payloads.completed(run.id)).status_code == 202
    assert [(row.name, row.state) for row in outbox_rows()] == [(FINISH, "enqueued")]
    assert queued_ids() == []
    monkeypatch.undo()

    age_hand_overs()
    assert outbox.sweep() == 1
    work()
    rows = outbox_rows()
    assert [(row.name, row.state, row.attempts) for row in rows] == [(FINISH, "done", 1)]


def age_hand_overs() -> None:
    """Let the hand-over grace pass for every row marked enqueued."""
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.state == "enqueued")
        .values(enqueued_at=utcnow() - outbox.HAND_OVER_GRACE - timedelta(seconds=1))
    )
    db.session.commit()


def test_jobs_run_in_process_without_redis(app, post, make_run, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setitem(app.extensions, "redis", None)  # as create_app leaves it without Redis
    run = make_run()
    upload_artifacts(run.id)
    assert post(payloads.completed(run.id)).status_code == 202
    rows = outbox_rows()
    assert [(row.name, row.state) for row in rows] == [(FINISH, "done")]
    assert app.extensions.get("redis") is None  # Redis was never asked (or created)
    db.session.rollback()
    assert db.session.get(ScanRun, run.id).report_status == "ready"


def test_a_run_job_killed_before_its_done_mark_runs_again_and_changes_nothing(
    app, post, make_run, monkeypatch
):
    run = make_run()
    upload_artifacts(run.id)
    post(payloads.completed(run.id))
    (finish,) = outbox_rows()
    set_state = job_runner._set

    def crash_before_done(outbox_id: int, **values: Any) -> None:
        if values.get("state") == "done":
            raise RuntimeError("worker killed before the done mark")
        set_state(outbox_id, **values)

    monkeypatch.setattr(job_runner, "_set", crash_before_done)
    with pytest.raises(RuntimeError):
        job_runner.run(finish.id)
    db.session.rollback()
    # The steps' writes go with the done mark, so none is kept; storage has no
    # transaction, and the snapshot is redacted already (a stamp waits for that).
    run = db.session.get(ScanRun, run.id)
    redacted = storage().get(f"scan-runs/{run.id}/page-0.html")
    assert run.report_status == "pending" and b"[REDACTED:" in redacted
    stamped = select(Artifact.redacted_at).where(Artifact.kind == "html_snapshot")
    assert db.session.scalars(stamped).all() == [None]

    monkeypatch.undo()
    assert job_runner.run(finish.id) == "done"
    assert job_runner.run(finish.id) == "skipped"
    assert [(row.name, row.attempts) for row in outbox_rows()] == [(FINISH, 2)]
    db.session.rollback()
    run = db.session.get(ScanRun, run.id)
    assert run.report_status == "ready"
    assert None not in db.session.scalars(stamped).all()
    assert storage().get(f"scan-runs/{run.id}/page-0.html") == redacted  # nothing redone
