"""``/healthz`` (the process answers) and ``/readyz`` (database, queue and storage reachable).

``/readyz`` answers within ``READY_DEADLINE`` seconds whatever is down: the three probes
run side by side, each with short timeouts and no retries, and a probe still running at
the deadline is reported as ``"error: timeout"``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Flask, current_app, jsonify
from sqlalchemy import text

from webriskops.extensions import db
from webriskops.redis_client import redis_client
from webriskops.storage import storage

READY_DEADLINE = 0.8
# A hung dependency can keep a probe thread busy past the deadline; a few spare threads
# keep the next probes from queueing behind it.
_PROBES = ThreadPoolExecutor(max_workers=12, thread_name_prefix="readyz")


def init_app(app: Flask) -> None:
    """Register the two probes."""

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        app_ = current_app._get_current_object()  # type: ignore[attr-defined]
        futures = {
            name: _PROBES.submit(_run, app_, probe)
            for name, probe in (("database", _database), ("queue", _queue), ("storage", _storage))
        }
        checks = {}
        for name, future in futures.items():
            try:
                checks[name] = future.result(timeout=READY_DEADLINE)
            except FutureTimeout:
                checks[name] = "error: timeout"
        ready = all(value == "ok" for value in checks.values())
        return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
            200 if ready else 503
        )


def _run(app: Flask, probe: Callable[[], str]) -> str:
    with app.app_context():
        try:
            return probe()
        except Exception as error:  # noqa: BLE001 - a probe reports, it never raises
            return f"error: {type(error).__name__}"
        finally:
            db.session.remove()


def _database() -> str:
    db.session.execute(text("SELECT 1"))
    return "ok"


def _queue() -> str:
    client = redis_client()
    if client is None:
        return "ok"  # in-process jobs: nothing to reach
    client.ping()
    return "ok"


def _storage() -> str:
    storage().ping()
    return "ok"
