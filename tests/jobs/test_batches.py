"""Rows run together (``runner.run_batch``): locked and claimed at once, each run once."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import update

from tests import payloads
from tests.jobs.conftest import outbox_rows
from webriskops.database import is_postgresql
from webriskops.extensions import db
from webriskops.jobs import runner
from webriskops.models import OutboxJob, ScanRun
from webriskops.models.base import utcnow


def finished_runs(post, make_run, count: int) -> tuple[list[int], list[int]]:
    """``count`` completed postbacks; their runs and their ``finish_scan_run`` rows."""
    runs = [make_run() for _ in range(count)]
    for run in runs:
        assert post(payloads.completed(run.id)).status_code == 202
    return [run.id for run in runs], [row.id for row in outbox_rows()]


def test_a_batch_runs_each_row_once_and_says_what_happened(app, post, make_run):
    run_ids, (first, second, third) = finished_runs(post, make_run, 3)

    outcomes = runner.run_batch([first, second, first, third])

    assert outcomes == ["done", "done", "skipped", "done"]  # the repeat runs once
    assert [(row.state, row.attempts) for row in outbox_rows()] == [("done", 1)] * 3
    db.session.rollback()
    assert all(db.session.get(ScanRun, run_id).report_status == "ready" for run_id in run_ids)
    assert runner.run_batch([first, second, third]) == ["skipped"] * 3


def test_a_row_not_due_or_out_of_attempts_is_not_claimed(app, post, make_run):
    _, (due, later, spent) = finished_runs(post, make_run, 3)
    db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == later)
        .values(available_at=utcnow() + timedelta(minutes=5))
    )
    db.session.execute(
        update(OutboxJob).where(OutboxJob.id == spent).values(attempts=runner.MAX_ATTEMPTS)
    )
    db.session.commit()

    assert runner.run_batch([due, later, spent]) == ["done", "not due", "failed"]
    rows = {row.id: row for row in outbox_rows()}
    assert (rows[due].state, rows[due].attempts) == ("done", 1)
    assert (rows[later].state, rows[later].attempts) == ("enqueued", 0)
    assert (rows[spent].state, rows[spent].attempts) == ("failed", runner.MAX_ATTEMPTS)


def test_a_row_another_process_runs_is_left_to_it(app, post, make_run, database_url):
    if not is_postgresql():
        pytest.skip("only PostgreSQL has the advisory locks that tell a running row")
    _, (mine, theirs) = finished_runs(post, make_run, 2)
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (runner.LOCK_BASE + theirs,))
        assert runner.is_running(theirs) is True

        assert runner.run_batch([mine, theirs]) == ["done", "busy"]
        rows = {row.id: row for row in outbox_rows()}
        assert (rows[theirs].state, rows[theirs].attempts) == ("enqueued", 0)  # not claimed

    # Once the other process is gone, the lock went with its connection: the server lets
    # it go when that connection's backend has exited, a moment after the close.
    deadline = time.monotonic() + 5
    while runner.is_running(theirs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.is_running(theirs) is False
    assert runner.is_running(mine) is False  # the batch gave its locks back
    assert runner.run_batch([theirs]) == ["done"]
