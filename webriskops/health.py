"""``/healthz`` (the process answers) and ``/readyz`` (database, queue and storage reachable)."""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from sqlalchemy import text

from webriskops.extensions import db


def init_app(app: Flask) -> None:
    """Register the two probes."""

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        checks = {
            "database": _check(_database),
            "queue": _check(_queue),
            "storage": _check(_storage),
        }
        ready = all(value == "ok" for value in checks.values())
        return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
            200 if ready else 503
        )


def _check(probe) -> str:
    try:
        return probe()
    except Exception as error:  # noqa: BLE001 - a probe reports, it never raises
        db.session.rollback()
        return f"error: {type(error).__name__}"


def _database() -> str:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return "ok"


def _queue() -> str:
    if not current_app.config.get("REDIS_URL"):
        return "ok"  # in-process jobs: nothing to reach
    from webriskops.jobs.queue import connection

    connection().ping()
    return "ok"


def _storage() -> str:
    from webriskops.storage import storage

    storage().ping()
    return "ok"
