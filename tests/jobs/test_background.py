"""Without Redis: the 202 goes out first, the work follows in a bounded background pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from tests import payloads
from tests.conftest import make_config
from tests.jobs.conftest import outbox_rows, wait_until
from webriskops import create_app
from webriskops.extensions import db
from webriskops.ingest import tasks
from webriskops.jobs import background
from webriskops.models import OutboxJob, ScanRun
from webriskops.models.base import utcnow


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """The embedded default: no Redis, jobs in the background pool."""
    return {"REDIS_URL": None, "JOBS_IN_BACKGROUND": True}


@pytest.fixture(autouse=True)
def stop_pool(app: Flask) -> Iterator[None]:
    yield
    background.pool().shutdown()  # before the tables are emptied


def report_status(run_id: int) -> str:
    db.session.rollback()
    status = db.session.get(ScanRun, run_id).report_status
    db.session.rollback()
    return status


def test_the_202_does_not_wait_for_the_work(app, post, make_run, monkeypatch):
    slow_step = tasks.prepare_report

    def slow_report(run: ScanRun, *args: object) -> None:
        time.sleep(1.5)
        slow_step(run, *args)

    monkeypatch.setattr(tasks, "prepare_report", slow_report)
    run = make_run()
    started = time.monotonic()
    assert post(payloads.completed(run.id)).status_code == 202
    assert time.monotonic() - started < 1.0
    assert report_status(run.id) == "pending"
    wait_until(lambda: report_status(run.id) == "ready", timeout=30)
    wait_until(lambda: {row.state for row in outbox_rows()} == {"done"}, timeout=10)


def test_work_left_behind_by_a_crash_is_swept_at_start_up(
    app, post, make_run, monkeypatch, database_url, artifacts_dir
):
    run = make_run()
    # A postback whose process died before its background job ran: the row is pending.
    monkeypatch.setattr(background, "submit", lambda ids: 0)
    assert post(payloads.completed(run.id)).status_code == 202
    monkeypatch.undo()
    background.pool().shutdown()  # the process is gone
    db.session.execute(
        OutboxJob.__table__.update().values(created_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    assert [row.state for row in outbox_rows()] == ["pending"]

    restarted = create_app(
        make_config(
            SQLALCHEMY_DATABASE_URI=database_url,
            ARTIFACTS_DIR=str(artifacts_dir),
            REDIS_URL=None,
            JOBS_IN_BACKGROUND=True,
        )
    )
    try:
        restarted.test_client().get("/healthz")  # its first request starts the sweep
        wait_until(lambda: report_status(run.id) == "ready", timeout=30)
    finally:
        with restarted.app_context():
            background.pool().shutdown()
            db.engine.dispose()


def test_the_backlog_is_bounded(app, monkeypatch):
    monkeypatch.setattr(background, "MAX_BACKLOG", 2)
    pool = background.BackgroundPool(app, run=lambda job_id: time.sleep(0.5), sweep=lambda: 0)
    try:
        assert pool.submit([1, 2, 3, 4]) == 2  # the rest wait in the outbox for the sweep
    finally:
        pool.shutdown()


def test_a_command_runs_its_jobs_before_it_exits(app, runner):
    # `flask demo` posts two completed runs; their work must be done when it returns,
    # not left to pool threads that the interpreter's shutdown cuts off.
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    rows = outbox_rows()
    assert rows and {row.state for row in rows} == {"done"}
    assert background.pool().sweeper is None  # the pool was never used


def timing_pool(app: Flask, seconds: float) -> tuple[background.BackgroundPool, list]:
    """A pool whose jobs sleep ``seconds``; the list gets each job's (start, end)."""
    spans: list[tuple[float, float]] = []

    def run(job_id: int) -> None:
        started = time.monotonic()
        time.sleep(seconds)
        spans.append((started, time.monotonic()))

    return background.BackgroundPool(app, run=run, sweep=lambda: 0), spans


def test_a_quiet_process_runs_its_jobs_side_by_side(app):
    pool, spans = timing_pool(app, 0.3)
    try:
        pool.submit([1, 2])
        wait_until(lambda: len(spans) == 2, timeout=10)
    finally:
        pool.shutdown()
    (first, _), (second, _) = sorted(spans)
    assert second - first < 0.2  # not one after the other, with a pause between


def test_steady_requests_slow_jobs_down_but_never_starve_them(app):
    pool, spans = timing_pool(app, 0.1)
    try:
        pool.request_started()  # never finished: traffic that does not stop
        pool.submit([1, 2, 3])
        wait_until(lambda: len(spans) == 3, timeout=10)
    finally:
        pool.request_finished()
        pool.shutdown()
    spans.sort()
    pause = 1 / background.LOADED_SHARE - 1
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        # One at a time, each followed by a pause of `pause` times its run.
        assert next_start - end >= pause * (end - start) * 0.95


def test_the_app_tells_its_pool_about_requests(app, client, monkeypatch):
    seen: list[int] = []
    pool = background.pool()
    monkeypatch.setattr(
        background.BackgroundPool,
        "request_finished",
        lambda self: seen.append(self.requests_in_flight) or setattr(self, "requests_in_flight", 0),
    )
    assert client.get("/healthz").status_code == 200
    assert seen == [1]  # counted while it ran
    assert pool.requests_in_flight == 0


def test_the_pools_sweep_requeues_a_run_whose_scanner_died(app, make_run):
    # Without Redis no worker sweeps: the pool does, expired leases first (API.md 3.9).
    run = make_run()
    db.session.execute(
        update(ScanRun)
        .where(ScanRun.id == run.id)
        .values(
            status="running", lease_seconds=30, lease_expires_at=utcnow() - timedelta(seconds=1)
        )
    )
    db.session.commit()

    background.pool().sweep()

    db.session.rollback()
    swept = db.session.get(ScanRun, run.id)
    assert (swept.status, swept.attempt, swept.lease_expires_at) == ("queued", 2, None)
