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
from webriskops.models import OutboxJob
from webriskops.models.base import as_utc, utcnow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POSTBACK_ENDPOINT = "scanner.results.store"
# Upper bounds (seconds) of the job duration histogram's buckets.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)
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
        totals = CounterMetricFamily(
            "webriskops_jobs", "Outbox jobs finished, by task and state.", labels=["task", "state"]
        )
        for name, state, count in db.session.execute(
            select(OutboxJob.name, OutboxJob.state, func.count())
            .where(OutboxJob.state.in_(("done", "failed")))
            .group_by(OutboxJob.name, OutboxJob.state)
        ):
            totals.add_metric([name, state], count)
        yield totals

        seconds = _seconds_between(OutboxJob.started_at, OutboxJob.finished_at)
        columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        histogram = HistogramMetricFamily(
            "webriskops_job_duration_seconds",
            "How long the last attempt of each finished outbox job ran, by task.",
            labels=["task"],
        )
        for name, count, total, *cumulative in db.session.execute(
            select(OutboxJob.name, func.count(), func.sum(seconds), *columns)
            .where(OutboxJob.state == "done", OutboxJob.started_at.is_not(None))
            .group_by(OutboxJob.name)
        ):
            buckets = [
                (repr(bound), int(value or 0))
                for bound, value in zip(DURATION_BUCKETS, cumulative, strict=True)
            ]
            histogram.add_metric([name], [*buckets, ("+Inf", count)], float(total or 0.0))
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
