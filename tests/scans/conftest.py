"""Fixtures for dispatch: claiming and heartbeating as a scanner, and moving a run's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from webriskops.extensions import db
from webriskops.models import ScanRun
from webriskops.models.base import utcnow

CLAIM = "/api/scanner/runs/claim"


@pytest.fixture
def claim(client: FlaskClient, scanner_headers: dict[str, str]) -> Callable[..., TestResponse]:
    """POST a claim body (dict, raw bytes or None for no body) as an authenticated scanner."""

    def send(body: Any = None, headers: dict[str, str] | None = None) -> TestResponse:
        merged = {**scanner_headers, **(headers or {})}
        merged = {name: value for name, value in merged.items() if value is not None}
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        return client.post(CLAIM, data=data, headers=merged)

    return send


@pytest.fixture
def beat(client: FlaskClient, scanner_headers: dict[str, str]) -> Callable[..., TestResponse]:
    """POST a heartbeat for a run id (any text, to try bad ids too)."""

    def send(run_id: int | str, headers: dict[str, str] | None = None) -> TestResponse:
        merged = {**scanner_headers, **(headers or {})}
        return client.post(f"/api/scanner/runs/{run_id}/heartbeat", headers=merged)

    return send


def expire_lease(run_id: int) -> None:
    """Let the run's lease run out (tests do not wait for the clock)."""
    db.session.execute(
        update(ScanRun)
        .where(ScanRun.id == run_id)
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def age(run_id: int, seconds: int) -> None:
    """Pretend the run was created ``seconds`` ago."""
    db.session.execute(
        update(ScanRun)
        .where(ScanRun.id == run_id)
        .values(created_at=utcnow() - timedelta(seconds=seconds))
    )
    db.session.commit()


def fresh(run_id: int) -> ScanRun:
    """The run as the database has it now."""
    db.session.expire_all()
    return db.session.get(ScanRun, run_id)


# The browser-like client and the login through the real form, shared with the report tests.
from tests.reports.conftest import PASSWORD, login, web  # noqa: E402,F401
