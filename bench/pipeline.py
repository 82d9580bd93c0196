"""End to end: from the first postback to the last report ready, with real workers.

The web tier is gunicorn with 2 workers of the benchmark's worker class. With ``REDIS_URL`` the
after-commit work runs in 1 or 2 ``rq worker`` processes of the Procfile's kind on the
same Redis and PostgreSQL (as two machines would run them); without it, in the web
processes' background pools. For each setup:

- a **burst** of single-page runs (5 issues each) posted from 8 connections as fast as
  they are accepted: the accept rate, and runs per second from the first postback to the
  last report ready (``report_generated_at`` in the database);
- right after the burst's last 202 (its backlog still being worked off), one postback
  of 1000 pages x 10 issues: its 202 time, and the time from its 202 to its report ready;
- on an idle system, 500 x 10 (5,000 findings): 202 time and time to its report.

``drain`` queues single-page runs with no worker running and times 1 or 2 workers
working the backlog off with the web tier idle: the workers' own throughput, which is
what adding a worker adds. ``soak`` pushes many single-page runs through one worker and
samples its RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis

from bench import PG_URL, REDIS_URL, ROOT
from bench.floor import proc_status_kb
from bench.ingest import (
    GunicornFlags,
    Server,
    closed_loop,
    machine_cpu_seconds,
    multi_page,
    post_once,
    process_cpu_seconds,
    single_page,
)

RQ = str(Path(sys.executable).with_name("rq"))
QUEUES = ("webriskops", "webriskops-webhooks")
WEB_WORKERS = 2
CONCURRENCY = 8
POLL_SECONDS = 0.02


class Workers:
    """``count`` rq worker processes of the Procfile's kind; stop() them when done."""

    def __init__(self, count: int, env: dict[str, str]) -> None:
        self.processes = [
            subprocess.Popen(
                [RQ, "worker", "--url", REDIS_URL, "--worker-class",
                 "webriskops.jobs.worker.OutboxWorker", *QUEUES],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]  # fmt: skip
        time.sleep(3)  # app built, registered, listening

    def rss_mb(self) -> list[float]:
        """Each worker's resident set size now, in MB."""
        return [proc_status_kb(p.pid, "VmRSS") / 1024 for p in self.processes]

    def stop(self) -> None:
        """SIGTERM (warm shutdown), then SIGKILL."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Timed:
    """One large postback: its 202 time and from its 202 to its report ready."""

    status: int = 0
    accept_seconds: float = 0.0
    ready_seconds: float = float("nan")


@dataclass
class PipelineResult:
    """What one setup (with or without Redis, N workers) measured."""

    label: str
    burst: int = 0
    accepted: int = 0
    accept_rate: float = 0.0
    end_to_end_rate: float = 0.0
    last_ready_seconds: float = 0.0
    large_after_burst: Timed = field(default_factory=Timed)
    medium_idle: Timed = field(default_factory=Timed)
    worker_rss_mb: list[float] = field(default_factory=list)


def reports_ready(run_ids: list[int]) -> tuple[int, datetime | None]:
    """How many of the runs have a ready report, and when the last one was generated."""
    with psycopg.connect(PG_URL) as connection:
        count, last = connection.execute(
            "SELECT count(*), max(report_generated_at) FROM scan_runs "
            "WHERE id = ANY(%s) AND report_status = 'ready'",
            (run_ids,),
        ).fetchone()
    return count, last


def wait_ready(run_ids: list[int], timeout: float) -> datetime | None:
    """Poll until every run's report is ready; the last ``report_generated_at`` (or None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count, last = reports_ready(run_ids)
        if count == len(run_ids):
            return last
        time.sleep(POLL_SECONDS)
    return None


def timed_large(port: int, run_id: int, pages: int, issues: int, timeout: float) -> Timed:
    """Post one large result and wait for its report."""
    body = multi_page(run_id, pages, issues)
    status, seconds = post_once(port, body)
    accepted_at = datetime.now(UTC)
    result = Timed(status=status, accept_seconds=seconds)
    if status == 202 and (ready := wait_ready([run_id], timeout)) is not None:
        result.ready_seconds = max(0.0, (ready - accepted_at).total_seconds())
    return result


def forget_earlier_jobs() -> int:
    """Mark the jobs of earlier sections done: the accept benchmarks only enqueue them.

    Left pending, the workers measured here would first work off thousands of them
    (the sweeper hands them over again once their RQ jobs are flushed away).
    """
    with psycopg.connect(PG_URL) as connection:
        return connection.execute(
            "UPDATE outbox_jobs SET state = 'done', finished_at = now() "
            "WHERE state IN ('pending', 'enqueued')"
        ).rowcount


def measure(
    label: str,
    env: dict[str, str],
    workers: int,
    runs: Iterator[int],
    burst: int,
    timeout: float,
    flags: GunicornFlags,
) -> PipelineResult:
    """Burst, large-after-burst and 5,000 findings for one setup."""
    forget_earlier_jobs()
    result = PipelineResult(label=label, burst=burst)
    pool = Workers(workers, env) if workers else None
    try:
        with Server("wsgi:app", WEB_WORKERS, flags, env) as server:
            warm = [next(runs) for _ in range(10)]
            closed_loop(server.port, [single_page(run) for run in warm], 2)
            wait_ready(warm, timeout)

            ids = [next(runs) for _ in range(burst)]
            bodies = [single_page(run) for run in ids]
            large_run = next(runs)
            started = datetime.now(UTC)
            load = closed_loop(server.port, bodies, CONCURRENCY)
            result.accepted = load.statuses.get(202, 0)
            result.accept_rate = load.rate
            result.large_after_burst = timed_large(server.port, large_run, 1000, 10, timeout)
            last = wait_ready(ids, timeout)
            if last is not None:
                result.last_ready_seconds = (last - started).total_seconds()
                result.end_to_end_rate = burst / result.last_ready_seconds
            result.medium_idle = timed_large(server.port, next(runs), 500, 10, timeout)
            if pool:
                result.worker_rss_mb = pool.rss_mb()
    finally:
        if pool:
            pool.stop()
    return result


def soak(
    env: dict[str, str], runs: Iterator[int], jobs: int, flags: GunicornFlags, samples: int = 5
) -> list[tuple[int, float]]:
    """Push ``jobs`` single-page runs through one worker; its RSS after each slice."""
    forget_earlier_jobs()
    pool = Workers(1, env)
    points = [(0, pool.rss_mb()[0])]
    try:
        with Server("wsgi:app", WEB_WORKERS, flags, env) as server:
            step = jobs // samples
            for done in range(step, jobs + 1, step):
                ids = [next(runs) for _ in range(step)]
                closed_loop(server.port, [single_page(run) for run in ids], CONCURRENCY)
                wait_ready(ids, 600)
                points.append((done, pool.rss_mb()[0]))
    finally:
        pool.stop()
    return points


@dataclass
class Drain:
    """A backlog worked off by ``workers`` processes with the web tier idle."""

    workers: int
    runs: int = 0
    seconds: float = float("nan")
    worker_cpu: float = float("nan")  # the worker processes' CPU seconds while draining
    machine_cpu: float = float("nan")  # the whole machine's (PostgreSQL and Redis included)
    machine_busy: float = float("nan")  # share of all cores busy while draining

    @property
    def rate(self) -> float:
        """Runs per second, from the first job started to the last report ready."""
        return self.runs / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def queues_held() -> Iterator[None]:
    """Keep the RQ queues out of the workers' sight (renamed) until the block ends.

    The workers then start (import, build the app, register) on empty queues, and their
    CPU time is sampled before they see the first job.
    """
    client = redis.Redis.from_url(REDIS_URL)
    held = [name for name in QUEUES if client.exists(f"rq:queue:{name}")]
    try:
        for name in held:
            client.rename(f"rq:queue:{name}", f"bench:held:{name}")
        yield
    finally:
        for name in held:
            client.rename(f"bench:held:{name}", f"rq:queue:{name}")
        client.close()


def settle_database() -> None:
    """Write out what earlier phases left dirty, so a drain does not pay for it.

    The large postbacks before the first drain leave tens of MB of dirty pages and
    fresh tables: the checkpointer's writes and autovacuum's analyze then fell inside
    the one-worker drain (its machine CPU per run tripled), not the two-worker one.
    """
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        connection.execute("ANALYZE")


def drain(
    env: dict[str, str], workers: int, runs: Iterator[int], count: int, flags: GunicornFlags
) -> Drain:
    """Queue ``count`` single-page runs with no worker running, then let ``workers`` drain them.

    The web tier is idle while they do, so this is the workers' own throughput: what
    adding a worker process (or a machine) adds. Counted from the first job's start, so
    the workers' start-up is not in it; nor is it in their CPU time (sampled before the
    queues are shown to them). On a machine of 2 cores shared with PostgreSQL, two
    workers can add only the CPU left over by one: CPU per run that does not grow with
    the second worker says the work itself does not contend.
    """
    forget_earlier_jobs()
    result = Drain(workers=workers)
    with Server("wsgi:app", WEB_WORKERS, flags, env) as server:
        ids = [next(runs) for _ in range(count)]
        closed_loop(server.port, [single_page(run) for run in ids], CONCURRENCY)
    settle_database()
    with queues_held():
        pool = Workers(workers, env)
        pids = [process.pid for process in pool.processes]
        worker_cpu, machine_cpu = process_cpu_seconds(pids), machine_cpu_seconds()
    try:
        last = wait_ready(ids, 600)
        result.worker_cpu = process_cpu_seconds(pids) - worker_cpu
        result.machine_cpu = machine_cpu_seconds() - machine_cpu
    finally:
        pool.stop()
    if last is None:
        return result
    with psycopg.connect(PG_URL) as connection:
        first = connection.execute(
            "SELECT min(started_at) FROM outbox_jobs "
            "WHERE name = 'finish_scan_run' AND (args->>'scan_run_id')::bigint = ANY(%s)",
            (ids,),
        ).fetchone()[0]
    result.runs = count
    result.seconds = (last - first).total_seconds()
    result.machine_busy = result.machine_cpu / ((os.cpu_count() or 1) * result.seconds)
    return result
