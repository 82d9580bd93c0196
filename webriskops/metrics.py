"""``GET /metrics``: the backlog and the work done, in the Prometheus text format.

Served only when ``WRO_METRICS_TOKEN`` is set, and only to ``Authorization: Bearer
<token>`` (compared in constant time); otherwise the route answers 404 as if it did not
exist, and a wrong token gets 401.

Two sources, each where the truth is:

- **Postbacks by outcome** are counted by the web processes with ``prometheus_client``.
  Under gunicorn each worker is a process of its own, so when ``PROMETHEUS_MULTIPROC_DIR``
  is set (``gunicorn.conf.py`` sets it up) the counts go through the library's
  multiprocess files and any worker's scrape adds them all up.
- **Jobs, the outbox and the queues** are read at scrape time from PostgreSQL and Redis:
  workers run on other machines than the web tier, and the outbox table already holds
  every job's task, state and start and finish times, so no worker has to serve or
  push anything, and a restarted worker loses no count.
"""

from __future__ import annotations

import hmac
import itertools
import os
from collections.abc import Iterator

from flask import Flask, Response, abort, current_app, request
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from webriskops.extensions import db
from webriskops.jobs import queue
from webriskops.models import OutboxJob, OutboxJobTotal
from webriskops.models.base import as_utc, utcnow
from webriskops.models.outbox import DURATION_BUCKETS, NO_DURATION

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POSTBACK_ENDPOINT = "scanner.results.store"
OUTCOMES = {
    202: "accepted",
    400: "bad_request",
    401: "unauthorized",
    404: "unknown_run",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}

# Postbacks of this process (or, in multiprocess mode, of every process via its files).
_LIVE = CollectorRegistry(auto_describe=True)
POSTBACKS = Counter(
    "webriskops_postbacks", "Scanner postbacks answered, by outcome.", ["outcome"], registry=_LIVE
)


def init_app(app: Flask) -> None:
    """Count postbacks and serve ``/metrics`` (404 unless a token is configured)."""

    @app.after_request
    def count_postback(response: Response) -> Response:
        if request.endpoint == POSTBACK_ENDPOINT:
            status = response.status_code
            POSTBACKS.labels(OUTCOMES.get(status, "error" if status >= 500 else "other")).inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        token = current_app.config.get("METRICS_TOKEN")
        if not token:
            abort(404)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response("unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
        registry = CollectorRegistry(auto_describe=False)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(registry)
        else:
            registry.register(_Forward(_LIVE))
        registry.register(BacklogCollector())
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE)


class _Forward(Collector):
    """Expose another registry's metrics in a scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


class BacklogCollector(Collector):
    """Jobs done and failed, their durations, the outbox backlog and the queue depth."""

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._jobs()
            yield from self._outbox()
        finally:
            db.session.rollback()
        yield from self._queues()

    def _jobs(self) -> Iterator[Metric]:
        # Rows finished within the last hour are in ``outbox_jobs``; older done ones were
        # folded into ``outbox_job_totals`` per duration bucket (``outbox.prune``).
        counts: dict[tuple[str, str], int] = {}
        for name, state, count in db.session.execute(
            select(OutboxJob.name, OutboxJob.state, func.count())
            .where(OutboxJob.state.in_(("done", "failed")))
            .group_by(OutboxJob.name, OutboxJob.state)
        ):
            counts[name, state] = count
        # Per task: the count in each bucket (not cumulative), +Inf last, and the seconds.
        timed: dict[str, tuple[list[int], float]] = {}
        for name, bucket, count, seconds in db.session.execute(
            select(
                OutboxJobTotal.name,
                OutboxJobTotal.bucket,
                OutboxJobTotal.count,
                OutboxJobTotal.seconds,
            )
        ):
            counts[name, "done"] = counts.get((name, "done"), 0) + count
            if bucket != NO_DURATION:
                buckets, total = timed.get(name, ([0] * (len(DURATION_BUCKETS) + 1), 0.0))
                buckets[bucket] += count
                timed[name] = (buckets, total + seconds)

        seconds = _seconds_between(OutboxJob.started_at, OutboxJob.finished_at)
        columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        for name, count, total, *cumulative in db.session.execute(
            select(OutboxJob.name, func.count(), func.sum(seconds), *columns)
            .where(OutboxJob.state == "done", OutboxJob.started_at.is_not(None))
            .group_by(OutboxJob.name)
        ):
            buckets, folded = timed.get(name, ([0] * (len(DURATION_BUCKETS) + 1), 0.0))
            previous = 0
            for index, value in enumerate([*(int(v or 0) for v in cumulative), count]):
                buckets[index] += value - previous
                previous = value
            timed[name] = (buckets, folded + float(total or 0.0))

        totals = CounterMetricFamily(
            "webriskops_jobs", "Outbox jobs finished, by task and state.", labels=["task", "state"]
        )
        for (name, state), count in sorted(counts.items()):
            totals.add_metric([name, state], count)
        yield totals
        histogram = HistogramMetricFamily(
            "webriskops_job_duration_seconds",
            "How long the last attempt of each finished outbox job ran, by task.",
            labels=["task"],
        )
        for name, (buckets, total) in sorted(timed.items()):
            cumulative = list(itertools.accumulate(buckets))
            bounds = [repr(bound) for bound in DURATION_BUCKETS] + ["+Inf"]
            histogram.add_metric([name], list(zip(bounds, cumulative, strict=True)), total)
        yield histogram

    def _outbox(self) -> Iterator[Metric]:
        rows = GaugeMetricFamily(
            "webriskops_outbox_rows",
            "Outbox jobs not finished: pending (waiting for hand-over or a retry) or enqueued.",
            labels=["state"],
        )
        counts = dict(
            db.session.execute(
                select(OutboxJob.state, func.count())
                .where(OutboxJob.state.in_(("pending", "enqueued")))
                .group_by(OutboxJob.state)
            ).all()
        )
        for state in ("pending", "enqueued"):
            rows.add_metric([state], counts.get(state, 0))
        yield rows
        now = utcnow()
        oldest = db.session.scalar(
            select(func.min(OutboxJob.available_at)).where(
                OutboxJob.state.in_(("pending", "enqueued")), OutboxJob.available_at <= now
            )
        )
        age = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "webriskops_outbox_oldest_age_seconds",
            "How long the oldest due, unfinished outbox job has been waiting (0: none).",
            value=max(age, 0.0),
        )

    def _queues(self) -> Iterator[Metric]:
        if not current_app.config.get("REDIS_URL"):
            return
        up = GaugeMetricFamily("webriskops_queue_up", "1 when Redis answered this scrape.")
        depth = GaugeMetricFamily(
            "webriskops_queue_depth", "RQ jobs waiting in each queue.", labels=["queue"]
        )
        try:
            depths = queue.depths()
        except Exception:  # noqa: BLE001 - Redis down: say so instead of failing the scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for name, count in depths.items():
            depth.add_metric([name], count)
        yield up
        yield depth


def _seconds_between(start, end):
    """SQL for ``end - start`` in seconds on PostgreSQL and SQLite."""
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)
