"""Fixtures for the scanner runtime: local sites on 127.0.0.1, settings, and a guard
that fails a test whose scanner contacted anything but loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SCANNER_SECRET, free_port, wait_for_port
from webriskops.scanner import demo_site
from webriskops.scanner.settings import ScannerSettings

Route = tuple[int, dict[str, str], bytes]


@dataclass
class ScriptedSite:
    """A site whose answers a test writes: ``routes[path] = (status, headers, body)``."""

    routes: dict[str, Route | Callable[[], Route]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, path: str, body: str = "", status: int = 200, **headers: str) -> None:
        """An HTML page."""
        html = (
            f'<!doctype html><html lang="en"><head><title>{path}</title></head>'
            f"<body>{body}</body></html>"
        )
        self.routes[path] = (status, {"Content-Type": "text/html", **headers}, html.encode())

    @property
    def paths(self) -> list[str]:
        """Every path requested, in order."""
        return [path for path, _ in self.requests]


def _handler(site: ScriptedSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "test-site"

        def do_GET(self) -> None:  # noqa: N802
            with site._lock:
                site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
            try:
                if site.delay:
                    time.sleep(site.delay)
                route = site.routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"no"))
                status, headers, body = route() if callable(route) else route
            finally:
                with site._lock:
                    site.in_flight -= 1
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # the scanner may give up on a slow answer

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def scripted_site() -> Iterator[Callable[..., ScriptedSite]]:
    """Start scripted sites on 127.0.0.1 (optionally over TLS); stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(tls: ssl.SSLContext | None = None) -> ScriptedSite:
        site = ScriptedSite()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        scheme = "https" if tls else "http"
        site.base_url = f"{scheme}://127.0.0.1:{server.server_address[1]}/"
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def demo() -> Iterator[tuple[demo_site.DemoSite, str]]:
    """The demo site with its planted problems, on 127.0.0.1; yields (site, base URL)."""
    site = demo_site.DemoSite(slow_seconds=1.0)
    server = demo_site.start(site)
    yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate no client trusts."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="session")
def trusted_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for ``localhost`` and the certificate to trust it with."""
    folder = tmp_path_factory.mktemp("trusted-tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, str(cert)


def make_settings(**overrides: Any) -> ScannerSettings:
    """Fast, loopback-allowed settings without screenshots, with ``overrides``."""
    values: dict[str, Any] = {
        "allow_private": True,
        "requests_per_second": 200.0,
        "request_timeout": 5.0,
        "screenshots": False,
        "slow_page_ms": 600,
        "poll_seconds": 0.2,
        "lease_seconds": 60,
    }
    values.update(overrides)
    return ScannerSettings(**values)


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every name resolved and address connected to; fail on anything not loopback."""
    contacted: list[str] = []
    resolve, connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        contacted.append(str(host))
        return resolve(host, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        contacted.append(str(address[0]))
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield contacted
    strangers = [host for host in contacted if not _loopback(host)]
    assert strangers == [], f"the scanner contacted {strangers}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """A local artifact folder for scans that do not go through the app."""
    path = tmp_path / "scanner-artifacts"
    path.mkdir()
    return path


@dataclass
class Api:
    """The app under gunicorn for a module's tests, and the artifact folder it uses."""

    url: str
    artifacts: Path


@pytest.fixture(scope="module")
def api_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """``gunicorn wsgi:app`` on the test database, shared by a module (starting one per
    test would double the scanner tests' time); tests still get clean tables from ``app``.
    """
    folder = tmp_path_factory.mktemp("api")
    artifacts = folder / "artifacts"
    artifacts.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "WRO_ENV": "development",
        "DATABASE_URL": pg_url,
        "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
        "WRO_ARTIFACTS_DIR": str(artifacts),
        "REDIS_URL": "",
    }
    with open(folder / "gunicorn.log", "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(port)
            yield Api(f"http://127.0.0.1:{port}", artifacts)
        finally:
            process.terminate()
            process.wait(10)
