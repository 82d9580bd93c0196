"""The worker outlives a Redis restart (a private redis-server), and logs only JSON lines."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from redis import Redis

from tests import payloads
from tests.conftest import free_port
from tests.jobs.conftest import outbox_rows, wait_until
from webriskops.extensions import db
from webriskops.models import ScanRun

pytestmark = pytest.mark.slow


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that can be stopped and started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url, socket_timeout=1)
        wait_until(lambda: _pings(client), timeout=20)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def report_ready(run_id: int) -> bool:
    db.session.rollback()
    ready = db.session.get(ScanRun, run_id).report_status == "ready"
    db.session.rollback()
    return ready


def test_the_worker_waits_for_redis_and_carries_on(app, post, make_run, rq_worker, private_redis):
    app.config["REDIS_URL"] = private_redis.url
    app.extensions.pop("redis", None)
    worker = rq_worker(url=private_redis.url)
    first = make_run()
    assert post(payloads.completed(first.id)).status_code == 202
    wait_until(lambda: report_ready(first.id), timeout=60)

    private_redis.kill()  # Redis goes away (and comes back empty)
    time.sleep(8)  # past a dequeue timeout, a heartbeat and a sweep
    assert worker.process.poll() is None  # still there, waiting
    second = make_run()
    assert post(payloads.completed(second.id)).status_code == 202  # kept in the outbox
    private_redis.start()

    wait_until(lambda: report_ready(second.id), timeout=90)
    assert worker.process.poll() is None
    assert {row.state for row in outbox_rows()} == {"done"}

    worker.stop()
    lines = worker.log.read_bytes().decode().splitlines()
    events = [orjson.loads(line) for line in lines]  # every line is one JSON object
    loggers = {event["logger"] for event in events}
    assert "rq.worker" in loggers and "webriskops.jobs.worker" in loggers
    assert any(event["level"] == "error" and event["logger"] == "rq.worker" for event in events)
