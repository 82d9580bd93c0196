"""The reference scanner client against a real HTTP server that answers 429 and 503 first."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from webriskops.scanner_client import (
    ACCEPTED,
    GAVE_UP,
    INVALID,
    UNAUTHORIZED,
    USAGE,
    post_results,
    retry_after_seconds,
    scanner,
)

ACCEPTED_BODY = {"scanRunId": 7, "status": "completed", "duplicate": False}


class ScriptedServer:
    """Answers each POST with the next scripted (status, headers) and records the requests.

    Status 0 closes the connection without answering: the request arrived, its answer is lost.
    """

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append(
                    {"headers": dict(self.headers), "raw": raw, "path": self.path}
                )
                status, headers = server.script.pop(0) if server.script else (202, {})
                if status == 0:
                    self.close_connection = True
                    return
                body = (
                    ACCEPTED_BODY
                    if status == 202
                    else {"error": {"code": f"E{status}", "message": "x"}}
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve_script() -> Iterator:
    servers: list[ScriptedServer] = []

    def start(script: list[tuple[int, dict[str, str]]]) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_retries_429_and_503_then_succeeds_honouring_retry_after(serve_script):
    server = serve_script([(429, {"Retry-After": "3"}), (503, {}), (202, {})])
    sleeps: list[float] = []
    body = json.dumps({"scanRunId": 7, "status": "completed"}).encode()

    outcome = post_results(
        server.url, body, "s3cret-placeholder", sleep=sleeps.append, rng=lambda: 0.5
    )

    assert (outcome.exit_code, outcome.status, outcome.attempts) == (ACCEPTED, 202, 3)
    assert outcome.body == ACCEPTED_BODY
    assert sleeps == [3.0, 1.0]  # Retry-After beats the jitter; then 0.5 * 2**1
    keys = {r["headers"]["Idempotency-Key"] for r in server.requests}
    assert len(keys) == 1  # one key for the postback, reused on every retry
    for request in server.requests:
        assert request["path"] == "/api/scanner/results"
        assert request["headers"]["Content-Encoding"] == "gzip"
        assert request["headers"]["X-Scanner-Secret"] == "s3cret-placeholder"
        assert gzip.decompress(request["raw"]) == body


@pytest.mark.parametrize(
    ("status", "headers", "exit_code"),
    [(422, {}, INVALID), (400, {}, INVALID), (413, {}, INVALID), (415, {}, INVALID),
     (401, {}, UNAUTHORIZED), (307, {"Location": "/elsewhere"}, INVALID)],
    ids=["422", "400", "413", "415", "401", "redirect-not-followed"],
)  # fmt: skip
def test_client_errors_are_not_retried(serve_script, status, headers, exit_code):
    server = serve_script([(status, headers)])
    outcome = post_results(server.url, b"{}", "s", sleep=lambda _: None)
    assert (outcome.exit_code, outcome.status) == (exit_code, status)
    assert (outcome.attempts, len(server.requests)) == (1, 1)


def test_a_lost_answer_is_retried_with_the_same_key(serve_script):
    server = serve_script([(0, {}), (202, {})])
    outcome = post_results(server.url, b"{}", "s", sleep=lambda _: None, rng=lambda: 0.0)
    assert (outcome.exit_code, outcome.attempts, len(server.requests)) == (ACCEPTED, 2, 2)
    keys = [request["headers"]["Idempotency-Key"] for request in server.requests]
    assert keys == [outcome.idempotency_key] * 2


def test_gives_up_after_max_attempts_with_growing_waits(serve_script):
    server = serve_script([(503, {})] * 10)
    sleeps: list[float] = []
    outcome = post_results(
        server.url, b"{}", "s", max_attempts=4, sleep=sleeps.append, rng=lambda: 1.0
    )
    assert (outcome.exit_code, outcome.attempts, len(server.requests)) == (GAVE_UP, 4, 4)
    assert sleeps == [1.0, 2.0, 4.0]


def test_network_errors_are_retried():
    outcome = post_results("http://127.0.0.1:1", b"{}", "s", max_attempts=2, sleep=lambda _: None)
    assert (outcome.exit_code, outcome.attempts) == (GAVE_UP, 2)
    assert outcome.body["error"]["code"] == "NETWORK"


def test_retry_after_as_http_date():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("soon") is None


def test_cli_posts_a_file_and_exits_with_the_outcome(serve_script, tmp_path, monkeypatch):
    server = serve_script([(503, {"Retry-After": "0"}), (202, {})])
    path = tmp_path / "result.json"
    path.write_text('{"scanRunId": 7, "status": "failed"}')
    monkeypatch.setenv("WRO_SCANNER_SHARED_SECRET", "placeholder-secret")
    sleeps: list[float] = []
    monkeypatch.setattr("webriskops.scanner_client.time.sleep", sleeps.append)

    result = CliRunner().invoke(scanner, ["post", str(path), "--url", server.url])

    assert result.exit_code == ACCEPTED, result.output
    assert json.loads(result.stdout) == ACCEPTED_BODY
    assert len(server.requests) == 2
    assert len(sleeps) == 1  # the CLI sleeps through time.sleep, replaced here


def test_cli_gives_up_and_names_the_key_to_post_with_later(serve_script, tmp_path, monkeypatch):
    server = serve_script([(503, {})] * 3)
    path = tmp_path / "result.json"
    path.write_text('{"scanRunId": 7, "status": "failed"}')
    monkeypatch.setenv("SCANNER_SECRET_FILE_VAR", "placeholder-secret")
    sleeps: list[float] = []
    monkeypatch.setattr("webriskops.scanner_client.time.sleep", sleeps.append)
    args = ["post", str(path), "--url", server.url, "--max-attempts", "3"]

    result = CliRunner().invoke(scanner, [*args, "--secret-env", "SCANNER_SECRET_FILE_VAR"])

    assert (result.exit_code, len(sleeps)) == (GAVE_UP, 2)
    assert json.loads(result.stdout)["error"]["code"] == "E503"
    key = server.requests[0]["headers"]["Idempotency-Key"]
    assert f"--idempotency-key {key}" in result.stderr
    assert {r["headers"]["X-Scanner-Secret"] for r in server.requests} == {"placeholder-secret"}

    again = CliRunner().invoke(
        scanner, [*args, "--secret-env", "SCANNER_SECRET_FILE_VAR", "--idempotency-key", key]
    )
    assert again.exit_code == ACCEPTED
    assert server.requests[-1]["headers"]["Idempotency-Key"] == key


@pytest.mark.parametrize(
    ("args", "env"),
    [(["post", "missing.json", "--url", "http://127.0.0.1:1"], {"WRO_SCANNER_SHARED_SECRET": "x"}),
     (["post", "missing.json", "--url", "http://127.0.0.1:1"], {}),
     (["post", __file__, "--url", "ftp://example.com"], {"WRO_SCANNER_SHARED_SECRET": "x"}),
     (["post", __file__], {"WRO_SCANNER_SHARED_SECRET": "x"}),
     (["post", __file__, "--url", "http://127.0.0.1:1", "--max-attempts", "0"],
      {"WRO_SCANNER_SHARED_SECRET": "x"})],
    ids=["no-file", "no-secret", "bad-url", "no-url-option", "bad-max-attempts"],
)  # fmt: skip
def test_cli_usage_errors(monkeypatch, args, env):
    monkeypatch.delenv("WRO_SCANNER_SHARED_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(scanner, args)
    assert result.exit_code == USAGE  # never click's 2, which would read as INVALID
    assert json.loads(result.stdout)["error"]["code"] == "USAGE"


def test_flask_cli_exposes_the_client(runner):
    result = runner.invoke(args=["scanner", "post", "--help"])
    assert result.exit_code == 0
    assert "--max-attempts" in result.output
