"""Each task runs under its own time limit, in the worker's process (no fork to kill)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from webriskops.extensions import db
from webriskops.jobs import outbox, registry, runner
from webriskops.jobs.timeouts import JobTimeout, time_limit
from webriskops.models import OutboxJob


@pytest.fixture
def sleepy_task() -> Iterator[str]:
    """A task registered with a 1 s limit that sleeps for 10 s."""
    name = "test_sleepy"
    registry.job(name, timeout=1)(lambda seconds: time.sleep(seconds))
    yield name
    registry.TASKS.pop(name, None)


def test_a_task_past_its_limit_is_stopped_and_the_attempt_recorded(app, sleepy_task):
    outbox.record(sleepy_task, seconds=10)
    db.session.commit()
    job_id = db.session.scalar(select(OutboxJob.id))
    started = time.monotonic()
    assert runner.run(job_id) == "retry"
    assert time.monotonic() - started < 5
    db.session.rollback()
    job = db.session.get(OutboxJob, job_id)
    assert (job.state, job.attempts) == ("pending", 1)
    assert job.last_error == "JobTimeout: stopped after 1 s"


def test_an_outer_limit_survives_an_inner_one():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.6)  # RQ's limit for the whole batch
        with time_limit(5):
            time.sleep(0.1)
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.5  # re-armed
        time.sleep(0.8)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_limit_raises_in_the_block():
    with pytest.raises(JobTimeout), time_limit(0.2):
        time.sleep(2)
