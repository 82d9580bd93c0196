"""Ingest speed: gunicorn on PostgreSQL, measured next to a floor measured in the same run.

Run with ``make bench`` (or ``.venv/bin/python bench/ingest_speed.py``). It creates the
database ``webriskops_bench``, starts the app under gunicorn the way the Procfile does,
and measures:

1. single-page completed postbacks (5 issues each) from a concurrent client: throughput
   and p50/p99 latency for 1, 2 and 4 workers, and p99 at a fixed 150 requests/s; the
   floor is a bare WSGI function under the same gunicorn that reads and parses the body
   and answers 202;
2. one postback of 1000 pages x 10 issues (about 10 MB) and one of 100 x 100: wall time
   and the serving worker's peak RSS; the floor parses the same JSON and writes the same
   rows with ``COPY`` in one transaction, no framework.

Jobs go to Redis (database 14) and are not run: the figures are the postback's own cost,
as production serves it with RQ workers elsewhere. Every figure is printed with its ratio
to the floor, and the table is written to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import http.client
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import payloads  # noqa: E402
from tests.conftest import free_port, wait_for_port  # noqa: E402

DATABASE = "webriskops_bench"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-scanner-secret-0123456789"
SINGLE_REQUESTS = 600
CONCURRENCY = 8
FIXED_RATE = 150


def sh(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        args, check=True, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL
    )


def app_env() -> dict[str, str]:
    return {
        "WRO_ENV": "development",
        "DATABASE_URL": PG_URL.replace("postgresql://", "postgres://"),
        "REDIS_URL": REDIS_URL,
        "WRO_SCANNER_SHARED_SECRET": SECRET,
        "WRO_SCANNER_RATE_LIMIT": "100000000/minute",
        "WRO_ARTIFACTS_DIR": "/tmp/webriskops-bench-artifacts",
        "SECRET_KEY": "bench",
    }


def create_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{DATABASE}"')
    sh(sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade", env=app_env())


def create_runs(count: int) -> list[int]:
    """Queued runs with reserved credits, created directly in SQL (it is setup, not measured)."""
    with psycopg.connect(PG_URL) as connection:
        org = connection.execute(
            "INSERT INTO organizations (name, credits, reserved_credits, created_at) "
            "VALUES ('bench', 0, %s, now()) RETURNING id",
            (count,),
        ).fetchone()[0]
        project = connection.execute(
            "INSERT INTO projects (organization_id, name, base_url, created_at) "
            "VALUES (%s, 'bench', 'https://example.com', now()) RETURNING id",
            (org,),
        ).fetchone()[0]
        runs = [
            row[0]
            for row in connection.execute(
                "INSERT INTO scan_runs (project_id, status, credit_state, created_at, updated_at) "
                "SELECT %s, 'queued', 'reserved', now(), now() FROM generate_series(1, %s) "
                "RETURNING id",
                (project, count),
            )
        ]
        with connection.cursor().copy(
            "COPY credit_ledger (organization_id, kind, amount, reserves_run_id, created_at) "
            "FROM STDIN"
        ) as copy:
            for run in runs:
                copy.write_row((org, "reserve", -1, run, datetime.now(UTC)))
    return runs


class Server:
    """A gunicorn process serving ``app`` with ``workers`` sync workers."""

    def __init__(self, app: str, workers: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **app_env(), "PYTHONPATH": str(ROOT / "bench")},
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def post(port: int, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(
        "POST",
        "/api/scanner/results",
        body=body,
        headers={"X-Scanner-Secret": SECRET, "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.perf_counter() - started


def closed_loop(port: int, bodies: list[bytes]) -> tuple[float, list[float], int]:
    """Send every body from CONCURRENCY threads as fast as answers come back."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = iter(bodies)

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                body = next(queue, None)
            if body is None:
                return
            status, latency = post(port, body)
            with lock:
                latencies.append(latency)
                errors += status != 202

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(bodies) / (time.perf_counter() - started), latencies, errors


def fixed_rate(port: int, bodies: list[bytes], rate: float) -> tuple[list[float], int]:
    """Send at ``rate`` requests per second (open loop) and record each latency."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    threads = []
    start = time.perf_counter()

    def send(body: bytes) -> None:
        nonlocal errors
        status, latency = post(port, body)
        with lock:
            latencies.append(latency)
            errors += status != 202

    for index, body in enumerate(bodies):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=send, args=(body,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return latencies, errors


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def large_payload(run_id: int, pages: int, issues: int) -> dict:
    data = payloads.multi(run_id, pages=pages, issues_per_page=issues)
    for entry in data["pages"]:
        for issue in entry["issues"]:
            issue["title"] = "Missing Content-Security-Policy header on this page " + "x" * 8
            issue["description"] = "The response does not restrict script sources. " * 6
            issue["evidence"] = "HTTP/1.1 200 OK\ncontent-type: text/html\nserver: nginx\n" * 9
    return data


def copy_floor(data: dict, run_id: int) -> float:
    """Parse and write the same rows with COPY in one transaction, no framework."""
    raw = orjson.dumps(data)
    started = time.perf_counter()
    parsed = orjson.loads(raw)
    with psycopg.connect(PG_URL) as connection, connection.cursor() as cursor:
        entries = parsed["pages"]
        page_ids = [
            r[0]
            for r in cursor.execute(
                "SELECT nextval('scan_pages_id_seq') FROM generate_series(1, %s)", (len(entries),)
            )
        ]
        issues = [
            (page_id, issue)
            for page_id, entry in zip(page_ids, entries, strict=True)
            for issue in entry["issues"]
        ]
        issue_ids = [
            r[0]
            for r in cursor.execute(
                "SELECT nextval('issues_id_seq') FROM generate_series(1, %s)", (len(issues),)
            )
        ]
        with cursor.copy(
            "COPY scan_pages (id, scan_run_id, position, url, normalized_url, status_code, "
            "page_type, response_headers, title, screenshot_path, html_snapshot_path) FROM STDIN"
        ) as copy:
            for position, (page_id, entry) in enumerate(zip(page_ids, entries, strict=True)):
                page = entry["page"]
                copy.write_row(
                    (
                        page_id,
                        run_id,
                        position,
                        page["url"],
                        page["normalizedUrl"],
                        page["statusCode"],
                        page["pageType"],
                        Jsonb(page["responseHeaders"]),
                        page.get("title"),
                        entry["artifacts"]["screenshotPath"],
                        entry["artifacts"].get("htmlSnapshotPath"),
                    )
                )
        with cursor.copy(
            "COPY artifacts (scan_run_id, scan_page_id, kind, storage_key) FROM STDIN"
        ) as copy:
            for page_id, entry in zip(page_ids, entries, strict=True):
                copy.write_row(
                    (run_id, page_id, "screenshot", entry["artifacts"]["screenshotPath"])
                )
                copy.write_row(
                    (run_id, page_id, "html_snapshot", entry["artifacts"]["htmlSnapshotPath"])
                )
        with cursor.copy(
            "COPY issues (id, scan_run_id, fingerprint, category, type, severity, title, "
            "description, confidence, evidence) FROM STDIN"
        ) as copy:
            for issue_id, (_, issue) in zip(issue_ids, issues, strict=True):
                copy.write_row(
                    (
                        issue_id,
                        run_id,
                        issue["fingerprint"],
                        issue["category"],
                        issue["type"],
                        issue["severity"],
                        issue["title"],
                        issue["description"],
                        issue["confidence"],
                        issue["evidence"],
                    )
                )
        with cursor.copy("COPY issue_occurrences (issue_id, scan_page_id) FROM STDIN") as copy:
            for issue_id, (page_id, _) in zip(issue_ids, issues, strict=True):
                copy.write_row((issue_id, page_id))
        connection.commit()
    return time.perf_counter() - started


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure_large(run_id: int, floor_run: int, warm_run: int, pages: int, issues: int) -> dict:
    data = large_payload(run_id, pages, issues)
    body = orjson.dumps(data)
    floor = copy_floor(large_payload(floor_run, pages, issues), floor_run)
    server = Server("wsgi:app", 1)
    try:
        worker = server.worker_pids()[0]
        post(server.port, orjson.dumps(payloads.completed(warm_run)))  # warm up imports
        before = vm_hwm_kb(worker)
        status, seconds = post(server.port, body)
        peak = vm_hwm_kb(worker)
    finally:
        server.stop()
    return {
        "shape": f"{pages} x {issues}",
        "megabytes": len(body) / 1e6,
        "status": status,
        "seconds": seconds,
        "floor": floor,
        "rss_mb": peak / 1024,
        "rss_growth_mb": (peak - before) / 1024,
    }


def measure_single(runs: list[int], workers: int, app: str) -> dict:
    bodies = [
        orjson.dumps(payloads.completed(run, [payloads.issue(n) for n in range(5)])) for run in runs
    ]
    server = Server(app, workers)
    try:
        closed_loop(server.port, bodies[:40])  # warm-up: imports, connections
        rate, latencies, errors = closed_loop(server.port, bodies[40:])
    finally:
        server.stop()
    return {
        "rate": rate,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "errors": errors,
    }


def main() -> None:
    started = time.perf_counter()
    sh(str(ROOT / "scripts" / "ensure-services.sh"))
    create_database()
    runs = iter(create_runs(3 * SINGLE_REQUESTS + FIXED_RATE * 6 + 10))
    take: Callable[[int], list[int]] = lambda n: [next(runs) for _ in range(n)]  # noqa: E731
    lines = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"# Ingest benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    say(f"Machine: {os.cpu_count()} cores, {cpu}; PostgreSQL and Redis on loopback.\n")

    say("## Single-page completed postbacks (5 issues), gunicorn sync workers\n")
    say("| workers | postbacks/s | p50 ms | p99 ms | floor req/s | ratio to floor | errors |")
    say("|---|---|---|---|---|---|---|")
    results = {}
    for workers in (1, 2, 4):
        ours = measure_single(take(SINGLE_REQUESTS // 2), workers, "wsgi:app")
        floor = measure_single([0] * (SINGLE_REQUESTS // 2), workers, "floor_app:app")
        results[workers] = ours
        say(
            f"| {workers} | {ours['rate']:.0f} | {ours['p50'] * 1000:.1f} | "
            f"{ours['p99'] * 1000:.1f} | {floor['rate']:.0f} | "
            f"{floor['rate'] / ours['rate']:.1f}x | {ours['errors']} |"
        )

    server = Server("wsgi:app", 2)
    try:
        bodies = [
            orjson.dumps(payloads.completed(run, [payloads.issue(n) for n in range(5)]))
            for run in take(FIXED_RATE * 5)
        ]
        latencies, errors = fixed_rate(server.port, bodies, FIXED_RATE)
    finally:
        server.stop()
    p99_fixed = percentile(latencies, 0.99)
    say(
        f"\nAt a fixed {FIXED_RATE} postbacks/s for 5 s with 2 workers: p50 "
        f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 {p99_fixed * 1000:.1f} ms, "
        f"errors {errors}.\n"
    )

    say("## Large multi-page postbacks (1 worker)\n")
    say(
        "| pages x issues | MB | wall s | floor s (parse + COPY) | ratio | worker peak RSS MB | "
        "RSS growth MB | growth / payload |"
    )
    say("|---|---|---|---|---|---|---|---|")
    large = []
    for pages, issues in ((1000, 10), (100, 100)):
        result = measure_large(*take(3), pages, issues)
        large.append(result)
        say(
            f"| {result['shape']} | {result['megabytes']:.1f} | {result['seconds']:.2f} | "
            f"{result['floor']:.2f} | {result['seconds'] / result['floor']:.1f}x | "
            f"{result['rss_mb']:.0f} | {result['rss_growth_mb']:.0f} | "
            f"{result['rss_growth_mb'] / result['megabytes']:.1f}x |"
        )

    big = large[0]
    say("\n## Targets\n")
    checks = [
        ("1000 x 10 within 4x the floor", big["seconds"] <= 4 * big["floor"]),
        (
            "1000 x 10 peak RSS growth under 10x the payload",
            big["rss_growth_mb"] < 10 * big["megabytes"],
        ),
        ("2 workers: at least 150 postbacks/s", results[2]["rate"] >= 150),
        (f"p99 under 100 ms at {FIXED_RATE}/s with 2 workers", p99_fixed < 0.1),
    ]
    for name, ok in checks:
        say(f"- {'PASS' if ok else 'FAIL'}: {name}")
    say(
        f"\nBenchmark took {time.perf_counter() - started:.0f} s. "
        "Command: `make bench` (`.venv/bin/python bench/ingest_speed.py`)."
    )
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
