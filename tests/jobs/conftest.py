"""Fixtures for the after-commit work: postbacks, artifacts in storage, RQ workers.

The ``app`` here hands jobs to a real Redis (``app_overrides``); test modules that want
the embedded in-process mode or the S3 server override ``app_overrides`` again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.conftest import ROOT, SCANNER_SECRET
from webriskops.extensions import db
from webriskops.jobs import queue, registry
from webriskops.models import OutboxJob


def github_token(body: str) -> str:
    """A well-formed GitHub token: 30 characters and their base62 CRC32, as GitHub makes them."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    crc, check = zlib.crc32(body.encode()), ""
    while crc:
        crc, rest = divmod(crc, 62)
        check = alphabet[rest] + check
    return f"ghp_{body}{check.rjust(6, '0')}"


# Secrets a scanner might capture in an HTML snapshot; the redaction rules know them all.
AWS_KEY = "AKIAZ7Q4XK2M9TRB3PLW"
GITHUB_TOKEN = github_token("R8fK2pLx9QvT4mWz7NcB3yHd6JsA1u")
SECRET_HTML = (
    "<html><head><title>Checkout</title></head><body>\n"
    f"<script>var awsKey = '{AWS_KEY}'; var gh = '{GITHUB_TOKEN}';</script>\n"
    f"<!-- scanner: {SCANNER_SECRET} -->\n"
    "<p>Ordinary content stays: order 12345, café, version 1.2.3.</p>\n"
    "</body></html>\n"
)


@pytest.fixture
def app_overrides(redis_url: str) -> dict[str, Any]:
    """Jobs go to the test Redis database."""
    return {"REDIS_URL": redis_url}


@pytest.fixture
def post(client: FlaskClient, scanner_headers: dict[str, str]) -> Callable[..., TestResponse]:
    """POST a scanner result as the scanner does."""

    def send(payload: dict, **headers: str) -> TestResponse:
        body = orjson.dumps(payload)
        return client.post(
            "/api/scanner/results", data=body, headers={**scanner_headers, **headers}
        )

    return send


def work(*queue_names: str) -> None:
    """Run every queued job with a real RQ worker in this process (burst mode).

    All queues by default; name some to leave the others waiting.
    """
    queues = [queue.queue(name) for name in queue_names or registry.QUEUES]
    SimpleWorker(queues, connection=queue.connection()).work(burst=True)


def outbox_rows() -> list[OutboxJob]:
    """Every outbox row, fresh from the database."""
    db.session.rollback()
    rows = db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)).all()
    db.session.rollback()
    return rows


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, step: float = 0.1) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class WorkerProcess:
    """A real ``rq worker`` process of the Procfile's kind."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a machine or container dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def rq_worker(
    app: Flask, database_url: str, redis_url: str, artifacts_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``rq worker`` processes (killed at teardown, before the tables are emptied)."""
    started: list[WorkerProcess] = []

    def start(
        worker_class: str = "webriskops.jobs.worker.OutboxWorker",
        url: str | None = None,
        **env: str,
    ) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        environment = {
            **os.environ,
            "WRO_ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": url or redis_url,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            **env,
        }
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("rq")),
                    "worker",
                    "--url",
                    url or redis_url,
                    "--worker-class",
                    worker_class,
                    *registry.QUEUES,
                ],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    db.session.remove()
