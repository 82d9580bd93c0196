"""The ingest benchmark's parts: database, payloads, a gunicorn server, a load client.

Everything here is measured against loopback only: PostgreSQL and Redis on 127.0.0.1
and gunicorn bound to a free port on 127.0.0.1. The load client is a small keep-alive
HTTP/1.1 client on raw sockets with the request head built once, so that its own cost
(it shares the two cores with the server) stays far below ``http.client``'s.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson
import psycopg

from bench import ADMIN_URL, APP_DATABASE_URL, DATABASE, PG_URL, REDIS_URL, ROOT, SECRET
from bench.floor import proc_status_kb
from webriskops.vocabulary import SEVERITIES

PATH = "/api/scanner/results"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SHIM_SITE = "/tmp/shimsite"  # a stand-in redactor, only while webriskops.redaction is missing

CATEGORIES = ("security", "privacy", "performance", "accessibility", "seo", "reliability")
PAGE_TYPES = ("content", "product", "category", "landing", "search", "legal")


# --- the database -------------------------------------------------------------------------


def server_env(*, inline_jobs: bool, artifacts_dir: str) -> dict[str, str]:
    """The environment of ``flask db upgrade`` and of the gunicorn server."""
    env = {
        **os.environ,
        "WRO_ENV": "development",
        "DATABASE_URL": APP_DATABASE_URL,
        "WRO_SCANNER_SHARED_SECRET": SECRET,
        "WRO_SCANNER_RATE_LIMIT": "1000000/minute",
        "WRO_ARTIFACTS_DIR": artifacts_dir,
        "SECRET_KEY": "bench",
        "REDIS_URL": REDIS_URL,
    }
    if inline_jobs:
        # Without Redis the after-commit jobs run in the worker, inside the measured request.
        del env["REDIS_URL"]
    if not (ROOT / "webriskops" / "redaction" / "__init__.py").exists():
        env["PYTHONPATH"] = SHIM_SITE
    return env


def create_database(env: dict[str, str]) -> None:
    """Drop and create ``webriskops_bench`` and migrate it to head with the app's migrations."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def create_runs(count: int) -> Iterator[int]:
    """``count`` queued runs of one project, each with its credit reserved, as the app makes them.

    Setup is not measured, so this writes in SQL what ``create_organization`` and
    ``create_scan_run`` write (a grant, then one ``reserve`` ledger row per run) in one
    transaction instead of one commit per run.
    """
    now = datetime.now(UTC)
    with psycopg.connect(PG_URL) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO organizations (name, credits, reserved_credits, created_at) "
            "VALUES ('bench', 0, %s, %s) RETURNING id",
            (count, now),
        )
        organization = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO credit_ledger (organization_id, kind, amount, created_at) "
            "VALUES (%s, 'grant', %s, %s)",
            (organization, count, now),
        )
        cursor.execute(
            "INSERT INTO projects (organization_id, name, base_url, created_at) "
            "VALUES (%s, 'bench', 'https://shop.example.com', %s) RETURNING id",
            (organization, now),
        )
        project = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO scan_runs (project_id, status, credit_state, created_at, updated_at) "
            "SELECT %s, 'queued', 'reserved', %s, %s FROM generate_series(1, %s) RETURNING id",
            (project, now, now, count),
        )
        runs = [row[0] for row in cursor.fetchall()]
        with cursor.copy(
            "COPY credit_ledger (organization_id, kind, amount, reserves_run_id, created_at) "
            "FROM STDIN"
        ) as copy:
            for run in runs:
                copy.write_row((organization, "reserve", -1, run, now))
    return iter(runs)


def stored_rows(run_id: int) -> dict[str, int | str]:
    """What a run has in the database: its status and its row counts per table."""
    with psycopg.connect(PG_URL) as connection:
        status = connection.execute(
            "SELECT status FROM scan_runs WHERE id = %s", (run_id,)
        ).fetchone()[0]
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM scan_pages WHERE scan_run_id = %(r)s),"
            " (SELECT count(*) FROM artifacts WHERE scan_run_id = %(r)s),"
            " (SELECT count(*) FROM issues WHERE scan_run_id = %(r)s),"
            " (SELECT count(*) FROM issue_occurrences o JOIN issues i ON i.id = o.issue_id"
            "  WHERE i.scan_run_id = %(r)s)",
            {"r": run_id},
        ).fetchone()
    names = ("status", "pages", "artifacts", "issues", "occurrences")
    return dict(zip(names, (status, *counts), strict=True))


def completed_count(run_ids: list[int]) -> int:
    """How many of ``run_ids`` are completed."""
    with psycopg.connect(PG_URL) as connection:
        return connection.execute(
            "SELECT count(*) FROM scan_runs WHERE id = ANY(%s) AND status = 'completed'",
            (run_ids,),
        ).fetchone()[0]


def flush_queue() -> None:
    """Empty the bench's Redis database (enqueued jobs, rate-limit counters)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


# --- payloads (section 3.3 of the API spec; same shapes as tests/payloads.py) -------------


def issue(n: int) -> dict[str, Any]:
    """A valid issue with realistic field lengths (title ~60, description ~300, evidence ~500)."""
    header = ("Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options")[n % 3]
    return {
        "category": CATEGORIES[n % len(CATEGORIES)],
        "type": f"missing-header.{header.lower()}",
        "severity": SEVERITIES[n % len(SEVERITIES)],
        "title": f"Missing {header} header on response #{n:07d}"[:60].ljust(60, "."),
        "description": (
            f"The response to this page (finding {n}) does not send a {header} header. "
            "Without it a browser applies its permissive defaults, which lets injected "
            "scripts run, lets other sites frame the page or lets a downgrade to plain "
            "HTTP go unnoticed. Add the header at the edge so every route carries it."
        ),
        "fingerprint": f"fp:{header.lower()}:{n:08d}",
        "confidence": 50 + n % 50,
        "evidence": (
            "HTTP/1.1 200 OK\r\n"
            f"date: Tue, 12 Nov 2024 10:{n % 60:02d}:{n * 7 % 60:02d} GMT\r\n"
            "content-type: text/html; charset=utf-8\r\n"
            f"content-length: {18000 + n % 9000}\r\n"
            "server: nginx/1.25.3\r\n"
            f'etag: W/"{n:08x}-5f3a9c1b2d4e"\r\n'
            "cache-control: private, max-age=0, must-revalidate\r\n"
            "vary: Accept-Encoding, Cookie\r\n"
            f"x-request-id: 7d1c0a2e-{n % 65536:04x}-4b7f-9e21-{n:012x}\r\n"
            "x-powered-by: Express\r\n"
            "referrer-policy: strict-origin-when-cross-origin\r\n"
            f"set-cookie: locale=en-GB; Path=/; Max-Age={n % 86400}; SameSite=Lax\r\n"
            "connection: keep-alive\r\n"
            "accept-ranges: bytes\r\n"
        ),
    }


def page(run_id: int, n: int, issues: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid ``pages[]`` entry (page, artifacts, issues)."""
    url = f"https://shop.example.com/catalogue/section-{n // 50}/item-{n:05d}"
    return {
        "page": {
            "url": url + "?ref=nav",
            "normalizedUrl": url,
            "statusCode": 200,
            "pageType": PAGE_TYPES[n % len(PAGE_TYPES)],
            "responseHeaders": {
                "content-type": "text/html; charset=utf-8",
                "server": "nginx/1.25.3",
                "cache-control": "private, max-age=0",
                "x-powered-by": "Express",
            },
            "title": f"Item {n:05d} | Example Shop",
            "consoleErrorsCount": n % 3,
            "networkErrorsCount": 0,
            "loadTimeMs": 800 + n % 700,
        },
        "artifacts": {
            "screenshotPath": f"scan-runs/{run_id}/pages/{n:05d}.png",
            "htmlSnapshotPath": f"scan-runs/{run_id}/pages/{n:05d}.html",
        },
        "issues": issues,
    }


def single_page(run_id: int, issues: int = 5) -> bytes:
    """A single-page completed postback with ``issues`` distinct issues."""
    entry = page(run_id, 0, [issue(i) for i in range(issues)])
    return orjson.dumps({"scanRunId": run_id, "status": "completed", **entry})


def multi_page(run_id: int, pages: int, issues_per_page: int) -> bytes:
    """A multi-page completed postback; every issue has its own fingerprint."""
    return orjson.dumps(
        {
            "scanRunId": run_id,
            "status": "completed",
            "pages": [
                page(run_id, p, [issue(p * issues_per_page + i) for i in range(issues_per_page)])
                for p in range(pages)
            ],
        }
    )


# --- the server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GunicornFlags:
    """The gunicorn settings under test (the same for the app and its floor)."""

    worker_class: str = "sync"
    threads: int = 4
    timeout: int = 60

    def args(self, workers: int) -> list[str]:
        """gunicorn's command-line flags for ``workers`` workers."""
        args = ["--workers", str(workers), "--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return [*args, "--timeout", str(self.timeout)]

    def describe(self, workers: int | str = "N") -> str:
        """The command line as a reader would type it."""
        flags = " ".join(self.args(0)).replace("--workers 0", f"--workers {workers}")
        return f"gunicorn wsgi:app {flags}"


class Server:
    """A gunicorn master serving ``app`` on a free loopback port; stop() it when done."""

    def __init__(self, app: str, workers: int, flags: GunicornFlags, env: dict[str, str]) -> None:
        self.workers = workers
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [GUNICORN, app, "--bind", f"127.0.0.1:{self.port}", *flags.args(workers)]
            + ["--log-level", "warning", "--error-logfile", "-"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            if len(self.worker_pids()) == self.workers:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                        return
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not start:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes."""
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def log_tail(self, lines: int = 30) -> str:
        """The end of gunicorn's log, for error messages."""
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the master (it stops its workers) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# --- the load client ----------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection posting JSON bodies to ``PATH``."""

    # Set by ``--idempotency-keys``: every postback carries an ``Idempotency-Key`` (made
    # from its body, so each postback has its own), as the scanner docs recommend.
    idempotency_keys: ClassVar[bool] = False

    def __init__(self, port: int, timeout: float = 120) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Scanner-Secret: {SECRET}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()

    def post(self, body: bytes) -> int:
        """Send one postback and return the response status (0 when the connection failed)."""
        for attempt in range(2):
            reused = self.sock is not None
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(self._head(body) + body)
                status, close = self._response()
            except (ConnectionError, EmptyResponse):
                self.close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: send again
                return 0
            if close:
                self.close()
            return status
        return 0

    def _head(self, body: bytes) -> bytes:
        head = self.head + str(len(body)).encode() + b"\r\n"
        if self.idempotency_keys:
            key = hashlib.blake2b(body, digest_size=16).hexdigest()
            head += b"Idempotency-Key: bench-" + key.encode() + b"\r\n"
        return head + b"\r\n"

    def _response(self) -> tuple[int, bool]:
        sock = self.sock
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise EmptyResponse
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:])
        )
        close = headers.get("connection", "").lower() == "close"
        if "content-length" in headers:
            remaining = int(headers["content-length"]) - len(rest)
            while remaining > 0:
                chunk = sock.recv(min(remaining, 65536))
                if not chunk:
                    raise EmptyResponse
                remaining -= len(chunk)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise EmptyResponse
                rest += chunk
        else:
            while sock.recv(65536):
                pass
            close = True
        return status, close

    def close(self) -> None:
        """Close the connection (the next post opens a new one)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class EmptyResponse(Exception):
    """The server closed the connection before a whole response arrived."""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        # The command name may hold spaces; the fields after its ")" are fixed.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (all cores; idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class LoadResult:
    """What a load run saw: latencies in seconds, errors, wall time and CPU time spent.

    ``worker_cpu`` is the gunicorn workers' CPU time, ``client_cpu`` this process's (the
    load client) and ``machine_cpu`` everything busy on the machine meanwhile
    (PostgreSQL, Redis and anyone else's work included).
    """

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    worker_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0

    def per_request_ms(self, seconds: float) -> float:
        """A CPU total spread over the answered requests, in milliseconds."""
        return 1000 * seconds / len(self.latencies) if self.latencies else float("nan")

    @property
    def rate(self) -> float:
        """Completed requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]

    def record(self, status: int, latency: float) -> None:
        """Count one response (call with the lock held)."""
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 202:
            self.errors += 1


def closed_loop(port: int, bodies: list[bytes], concurrency: int) -> LoadResult:
    """Send every body from ``concurrency`` connections, each sending as soon as answered."""
    result = LoadResult()
    lock = threading.Lock()
    pending = iter(bodies)

    def sender() -> None:
        client = Client(port)
        try:
            while True:
                with lock:
                    body = next(pending, None)
                if body is None:
                    return
                started = time.perf_counter()
                status = client.post(body)
                latency = time.perf_counter() - started
                with lock:
                    result.record(status, latency)
        finally:
            client.close()

    started = time.perf_counter()
    run_threads(sender, concurrency)
    result.seconds = time.perf_counter() - started
    return result


def fixed_rate(port: int, bodies: list[bytes], rate: float, senders: int = 64) -> LoadResult:
    """Offer ``rate`` requests per second (open loop) whatever the answers' speed.

    Each request has a scheduled send time and its latency counts from then, so a
    request that had to wait for a free sender (the server fell behind) is charged the
    wait too: no coordinated omission.
    """
    result = LoadResult()
    lock = threading.Lock()
    schedule: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
    start = time.perf_counter() + 0.2
    for index, body in enumerate(bodies):
        schedule.put((start + index / rate, body))

    def sender() -> None:
        client = Client(port)
        try:
            while True:
                try:
                    due, body = schedule.get_nowait()
                except queue.Empty:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                status = client.post(body)
                latency = time.perf_counter() - due
                with lock:
                    result.record(status, latency)
        finally:
            client.close()

    run_threads(sender, senders)
    result.seconds = time.perf_counter() - start
    return result


def run_threads(target: Callable[[], None], count: int) -> None:
    """Run ``target`` in ``count`` threads at once and wait for all of them."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- measurements -------------------------------------------------------------------------


def post_once(port: int, body: bytes) -> tuple[int, float]:
    """One postback on a new connection: its status and wall time."""
    client = Client(port)
    try:
        started = time.perf_counter()
        status = client.post(body)
        return status, time.perf_counter() - started
    finally:
        client.close()


@dataclass
class LargeResult:
    """One large postback through a fresh one-worker server, and its floor."""

    megabytes: float
    status: int
    seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    worker_cpu: float
    floor_seconds: float
    floor_cpu: float
    floor_rss_before_mb: float
    floor_peak_rss_mb: float
    rows: dict[str, int | str]
    floor_rows: dict[str, int | str]

    @property
    def growth_mb(self) -> float:
        """How far the worker's peak RSS rose above its RSS just before the postback."""
        return self.peak_rss_mb - self.rss_before_mb

    @property
    def floor_growth_mb(self) -> float:
        """The same for the floor's process."""
        return self.floor_peak_rss_mb - self.floor_rss_before_mb


def measure_large(
    runs: Iterator[int],
    pages: int,
    issues_per_page: int,
    flags: GunicornFlags,
    env: dict[str, str],
) -> LargeResult:
    """Post one large payload to a fresh server (clean VmHWM), then run the floor on its twin."""
    warm_run, run, floor_run = next(runs), next(runs), next(runs)
    body = multi_page(run, pages, issues_per_page)
    floor_body = multi_page(floor_run, pages, issues_per_page)
    with Server("wsgi:app", 1, flags, env) as server:
        (worker,) = server.worker_pids()
        # Warm up: imports, the connection pool, the redactor, Redis.
        post_once(server.port, single_page(warm_run))
        rss_before = proc_status_kb(worker, "VmRSS")
        cpu_before = process_cpu_seconds([worker])
        status, seconds = post_once(server.port, body)
        worker_cpu = process_cpu_seconds([worker]) - cpu_before
        peak = proc_status_kb(worker, "VmHWM")
        if status != 202:
            raise RuntimeError(f"large postback answered {status}:\n{server.log_tail()}")
    with tempfile.NamedTemporaryFile(prefix="bench-floor-", suffix=".json") as payload:
        payload.write(floor_body)
        payload.flush()
        floor = orjson.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.floor", payload.name, str(floor_run)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            ).stdout
        )
    return LargeResult(
        megabytes=len(body) / 1e6,
        status=status,
        seconds=seconds,
        worker_cpu=worker_cpu,
        rss_before_mb=rss_before / 1024,
        peak_rss_mb=peak / 1024,
        floor_seconds=floor["seconds"],
        floor_cpu=floor["cpu_seconds"],
        floor_rss_before_mb=floor["rss_before_kb"] / 1024,
        floor_peak_rss_mb=floor["hwm_kb"] / 1024,
        rows=stored_rows(run),
        floor_rows=stored_rows(floor_run),
    )


def with_cpu(server: Server, load: Callable[..., LoadResult], *args: Any) -> LoadResult:
    """Run ``load(server.port, *args)``, recording the CPU the workers, client and machine spent."""
    workers = server.worker_pids()
    before = (process_cpu_seconds(workers), time.process_time(), machine_cpu_seconds())
    result = load(server.port, *args)
    result.worker_cpu = process_cpu_seconds(workers) - before[0]
    result.client_cpu = time.process_time() - before[1]
    result.machine_cpu = machine_cpu_seconds() - before[2]
    return result


def warm_up(server: Server, bodies: list[bytes], concurrency: int) -> None:
    """Let every worker import, connect and serve a few requests before measuring."""
    result = closed_loop(server.port, bodies, concurrency)
    if result.errors:
        raise RuntimeError(f"warm-up answered {result.statuses}:\n{server.log_tail()}")


def profile(pages: int, issues_per_page: int, singles: int, top: int, env: dict[str, str]) -> str:
    """cProfile of a large postback and of ``singles`` single-page ones, in this process.

    The whole request is profiled through Flask's test client (routing, body, fast-path
    validation, redaction, ``ingest_result`` with its COPYs, commit, hand-over to RQ),
    with the same payloads and settings as the benchmark; only gunicorn and the socket
    are left out.
    """
    import cProfile
    import io
    import pstats

    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    if "REDIS_URL" not in env:
        os.environ.pop("REDIS_URL", None)
    if "PYTHONPATH" in env:
        import runpy

        runpy.run_path(f"{env['PYTHONPATH']}/sitecustomize.py")  # the stand-in redactor
    import config as app_config  # read at import: this module imported it before env was set
    from webriskops import create_app

    importlib.reload(app_config)
    client = create_app().test_client()
    logging.disable(logging.INFO)  # the per-request log lines would bury the profile
    runs = create_runs(3 + singles)
    warm_run, large_run, traced_run = next(runs), next(runs), next(runs)

    def post(body: bytes) -> None:
        response = client.post(
            PATH, data=body, headers={"X-Scanner-Secret": SECRET}, content_type="application/json"
        )
        if response.status_code != 202:
            raise RuntimeError(f"profiled postback answered {response.status_code}")

    post(single_page(warm_run))  # warm-up: imports, the connection pool, Redis
    out = io.StringIO()
    cases = [
        (
            f"one {pages} x {issues_per_page} postback",
            [multi_page(large_run, pages, issues_per_page)],
        ),
        (f"{singles} single-page postbacks (5 issues)", [single_page(r) for r in runs]),
    ]
    for label, bodies in cases:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for body in bodies:
            post(body)
        profiler.disable()
        seconds = time.perf_counter() - started
        out.write(f"\n=== {label}: {seconds:.2f} s in-process under cProfile ===\n")
        stats = pstats.Stats(profiler, stream=out)
        # Whole request by cumulative time, the app's own functions alone, then self time.
        for order, *restriction in (("cumulative",), ("cumulative", "webriskops/"), ("tottime",)):
            stats.sort_stats(order).print_stats(*restriction, top)
    out.write(round_trips(client, traced_run))
    text = out.getvalue()
    for prefix in (sysconfig.get_paths()["purelib"], str(ROOT), str(Path(os.__file__).parent)):
        text = text.replace(prefix + "/", "")
    return text


def round_trips(client: Any, run_id: int) -> str:
    """The SQL statements and Redis round trips of one single-page postback, in order."""
    import redis.connection
    from sqlalchemy import event

    from webriskops.extensions import db

    statements: list[str] = []
    redis_round_trips = 0
    send = redis.connection.AbstractConnection.send_packed_command

    def count_redis(self: Any, command: Any, check_health: bool = True) -> None:
        nonlocal redis_round_trips
        redis_round_trips += 1
        send(self, command, check_health)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split())[:110])

    def begin(_conn: Any) -> None:
        statements.append("BEGIN")

    def commit(_conn: Any) -> None:
        statements.append("COMMIT")

    with client.application.app_context():
        engine = db.engine
    hooks = (("before_cursor_execute", record), ("begin", begin), ("commit", commit))
    for name, hook in hooks:
        event.listen(engine, name, hook)
    redis.connection.AbstractConnection.send_packed_command = count_redis
    try:
        client.post(
            PATH,
            data=single_page(run_id),
            headers={"X-Scanner-Secret": SECRET},
            content_type="application/json",
        )
    finally:
        redis.connection.AbstractConnection.send_packed_command = send
        for name, hook in hooks:
            event.remove(engine, name, hook)
    lines = "\n".join(f"  {n + 1:2d}. {text}" for n, text in enumerate(statements))
    return (
        f"\n=== one single-page postback: {len(statements)} SQL round trips (COPY not seen "
        f"here; BEGIN/COMMIT included), {redis_round_trips} Redis round trips ===\n{lines}\n"
    )


def make_artifacts_dir() -> str:
    """A scratch folder for WRO_ARTIFACTS_DIR."""
    return tempfile.mkdtemp(prefix="bench-artifacts-")


def remove_artifacts_dir(path: str) -> None:
    """Remove the scratch folder."""
    shutil.rmtree(path, ignore_errors=True)
