"""A webhook receiver: a real HTTP server on 127.0.0.1 in a thread, answering as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and what it answers next (``(status, headers, delay)``)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)

    def answer(self, *answers: int | tuple[int, dict[str, str]] | tuple[int, dict, float]) -> None:
        """Queue answers; once they run out every request gets 200."""
        for item in answers:
            status, headers, delay = (item, {}, 0.0) if isinstance(item, int) else (*item, 0.0)[:3]
            self.script.append((status, headers, delay))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver at ``receiver.url`` (path ``/hooks``)."""
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            hub: Receiver = state["receiver"]
            hub.requests.append(Received(self.path, dict(self.headers.items()), body))
            status, headers, delay = hub.script.pop(0) if hub.script else (200, {}, 0.0)
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """The receiver lives on loopback, so private addresses are allowed here."""
    return {"WEBHOOKS_ALLOW_PRIVATE": True}


# The scanner's postback fixture of the jobs tests, shared here.
from tests.jobs.conftest import post  # noqa: E402,F401


def add_endpoint(runner, org_id: int, url: str) -> tuple[int, str]:
    """``flask webhooks add``; returns the endpoint id and its secret."""
    import orjson

    result = runner.invoke(args=["webhooks", "add", str(org_id), url])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)  # stdout only: the CLI prints one JSON object there
    return data["webhookId"], data["secret"]


def make_due() -> int:
    """Let the clock reach every pending job's ``available_at`` (tests do not wait)."""
    from datetime import timedelta

    from sqlalchemy import update

    from webriskops.extensions import db
    from webriskops.models import OutboxJob
    from webriskops.models.base import utcnow

    count = db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.state == "pending")
        .values(available_at=utcnow() - timedelta(seconds=1))
    ).rowcount
    db.session.commit()
    return count
