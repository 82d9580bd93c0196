"""``python -m bench`` (``make bench``): the ingest benchmark, every figure next to its floor.

It creates the database ``webriskops_bench``, starts the app under gunicorn on
PostgreSQL with the flags below, and measures:

1. single-page completed postbacks (5 issues each) from a concurrent keep-alive client:
   throughput and p50/p99 latency for 1, 2 and 4 workers, and p50/p99 at a fixed
   offered 150 postbacks/s with 2 workers; the floor is ``bench.floor:app`` (read,
   orjson-parse, answer 202) under the same gunicorn flags, sent the same requests;
2. one postback of 1000 pages x 10 issues (about 10 MB) and one of 100 x 100, each on a
   fresh one-worker server: wall time and the worker's peak RSS (``VmHWM``); the floor
   parses the same JSON and writes the same rows with ``COPY`` in one transaction, in a
   fresh process, no framework.

Jobs are only enqueued to Redis (database 14, flushed before and after), as production
runs with separate RQ workers; ``--inline-jobs`` leaves ``REDIS_URL`` unset so the jobs
run in the worker after commit and are counted. The table is printed and written to
``bench/RESULTS.md`` and into the README's results block; ``--profile`` prints where a
large postback's time goes instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import ADMIN_URL, ROOT, pipeline
from bench.ingest import (
    Client,
    GunicornFlags,
    LargeResult,
    LoadResult,
    Server,
    closed_loop,
    completed_count,
    create_database,
    create_runs,
    fixed_rate,
    flush_queue,
    make_artifacts_dir,
    measure_large,
    profile,
    remove_artifacts_dir,
    server_env,
    single_page,
    warm_up,
    with_cpu,
)

DEFAULT_RESULTS = ROOT / "bench" / "RESULTS.md"
# The default run also refreshes this block of the project README.
README = ROOT / "README.md"
README_START, README_END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
WORKER_COUNTS = (1, 2, 4)
LARGE_SHAPES = ((1000, 10), (100, 100))
TARGET_RATE = 150
TARGET_P99 = 0.100
TARGET_TIME_RATIO = 4
TARGET_RSS_RATIO = 10
# End-to-end setups: their name on the command line, label, Redis or not, worker processes.
PIPELINE_SETUPS = {
    "redis1": ("REDIS_URL, 1 worker", True, 1),
    "redis2": ("REDIS_URL, 2 workers", True, 2),
    "none": ("no REDIS_URL (background pool)", False, 0),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; the defaults are what ``make bench`` runs."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker")
    parser.add_argument("--requests", type=int, default=600, help="per closed-loop run")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop connections")
    parser.add_argument("--rate-seconds", type=float, default=8, help="fixed-rate duration")
    parser.add_argument("--repeats", type=int, default=3, help="per large payload (median)")
    parser.add_argument("--inline-jobs", action="store_true", help="no REDIS_URL: count jobs")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="an Idempotency-Key on every postback"
    )
    parser.add_argument("--profile", action="store_true", help="profile 1000 x 10 and stop")
    parser.add_argument("--top", type=int, default=15, help="profile entries to list")
    parser.add_argument("--profile-singles", type=int, default=200, help="single postbacks")
    parser.add_argument("--no-redaction", action="store_true", help="skip redaction_bench.py")
    parser.add_argument("--burst", type=int, default=300, help="end-to-end burst of runs")
    parser.add_argument("--soak", type=int, default=0, help="runs through one worker, RSS")
    parser.add_argument("--drain", type=int, default=600, help="backlog drained by 1, 2 workers")
    parser.add_argument("--pipeline-only", action="store_true", help="end to end only")
    parser.add_argument(
        "--setups",
        default=",".join(PIPELINE_SETUPS),
        help=f"end-to-end setups to measure, of {','.join(PIPELINE_SETUPS)}",
    )
    parser.add_argument("--results", default=str(DEFAULT_RESULTS))
    return parser.parse_args(argv)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    with psycopg.connect(ADMIN_URL) as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "cpu": cpu,
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "python": platform.python_version(),
        "postgres": postgres,
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    return f"{seconds * 1000:.1f}"


def ratio(value: float, floor: float) -> str:
    """``value / floor`` as ``12.3x``."""
    return f"{value / floor:.1f}x" if floor > 0 else "n/a"


class Report:
    """Lines printed as they come and written to RESULTS.md at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, text: str = "") -> None:
        """Print a line (or a block) and keep it."""
        print(text, flush=True)
        self.lines.append(text)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        """A Markdown table."""
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + "---|" * len(header))
        for row in rows:
            self.say("| " + " | ".join(row) + " |")
        self.say()


def progress(text: str) -> None:
    """Where the run is, on stderr so stdout stays the report."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def run_single(args, flags, env, runs) -> tuple[dict[int, tuple[LoadResult, LoadResult]], list]:
    """Closed-loop single-page postbacks for each worker count, app then floor."""
    results = {}
    posted: list[int] = []
    for workers in WORKER_COUNTS:
        warm_ids = [next(runs) for _ in range(10 * workers)]
        ids = [next(runs) for _ in range(args.requests)]
        bodies = [single_page(run) for run in ids]
        warm = [single_page(run) for run in warm_ids]
        progress(f"single-page postbacks, {workers} worker(s): app")
        with Server("wsgi:app", workers, flags, env) as server:
            warm_up(server, warm, args.concurrency)
            ours = with_cpu(server, closed_loop, bodies, args.concurrency)
        progress(f"single-page postbacks, {workers} worker(s): floor")
        with Server("bench.floor:app", workers, flags, env) as server:
            warm_up(server, warm, args.concurrency)
            floor = with_cpu(server, closed_loop, bodies, args.concurrency)
        results[workers] = (ours, floor)
        posted += warm_ids + ids
    return results, posted


def run_fixed_rate(args, flags, env, runs) -> tuple[LoadResult, LoadResult, list[int]]:
    """Single-page postbacks offered at TARGET_RATE per second to 2 workers, app and floor."""
    count = int(TARGET_RATE * args.rate_seconds)
    ids = [next(runs) for _ in range(count)]
    warm_ids = [next(runs) for _ in range(20)]
    bodies = [single_page(run) for run in ids]
    warm = [single_page(run) for run in warm_ids]
    progress(f"fixed rate {TARGET_RATE}/s for {args.rate_seconds:g} s, 2 workers: app")
    with Server("wsgi:app", 2, flags, env) as server:
        warm_up(server, warm, args.concurrency)
        ours = with_cpu(server, fixed_rate, bodies, TARGET_RATE)
    progress(f"fixed rate {TARGET_RATE}/s for {args.rate_seconds:g} s, 2 workers: floor")
    with Server("bench.floor:app", 2, flags, env) as server:
        warm_up(server, warm, args.concurrency)
        floor = with_cpu(server, fixed_rate, bodies, TARGET_RATE)
    return ours, floor, warm_ids + ids


def run_large(args, flags, env, runs) -> dict[tuple[int, int], list[LargeResult]]:
    """Each large shape ``repeats`` times, each on a fresh server, with its floor."""
    results = {}
    for pages, issues in LARGE_SHAPES:
        results[(pages, issues)] = []
        for attempt in range(args.repeats):
            progress(f"large postback {pages} x {issues} ({attempt + 1}/{args.repeats})")
            result = measure_large(runs, pages, issues, flags, env)
            expected = {
                "status": "completed",
                "pages": pages,
                "artifacts": 2 * pages,
                "issues": pages * issues,
                "occurrences": pages * issues,
            }
            for name, rows in (("app", result.rows), ("floor", result.floor_rows)):
                if rows != expected:
                    raise RuntimeError(f"{name} stored {rows}, expected {expected}")
            results[(pages, issues)].append(result)
    return results


def median(results: list[LargeResult], value: Callable[[LargeResult], float]) -> float:
    """The median of one figure over the repeats."""
    return statistics.median(value(result) for result in results)


def report_single(report: Report, single: dict, concurrency: int) -> None:
    """Section 1: closed-loop throughput and latency, each with its floor and ratio."""
    report.say(
        f"## 1. Single-page completed postbacks (5 issues, {len(single[1][0].latencies)} "
        f"requests), closed loop, {concurrency} keep-alive connections\n"
    )
    report.say(
        "Throughput ratio = floor's rate / ours (how many times slower than the bare "
        "server + parse); latency ratios = ours / floor's. Closed-loop latencies include "
        f"queueing behind the other {concurrency - 1} connections.\n"
    )
    rows = []
    for workers, (ours, floor) in single.items():
        rows.append(
            [
                str(workers),
                f"{ours.rate:.0f}",
                f"{floor.rate:.0f}",
                ratio(floor.rate, ours.rate),
                ms(ours.percentile(0.5)),
                ms(floor.percentile(0.5)),
                ratio(ours.percentile(0.5), floor.percentile(0.5)),
                ms(ours.percentile(0.99)),
                ms(floor.percentile(0.99)),
                ratio(ours.percentile(0.99), floor.percentile(0.99)),
                str(ours.errors + floor.errors),
            ]
        )
    report.table(
        [
            "workers",
            "postbacks/s",
            "floor req/s",
            "ratio",
            "p50 ms",
            "floor p50 ms",
            "ratio",
            "p99 ms",
            "floor p99 ms",
            "ratio",
            "errors",
        ],  # fmt: skip
        rows,
    )
    report.say(
        "CPU per request, from /proc: the gunicorn workers, the load client (this "
        "process) and the whole machine (PostgreSQL, Redis and anything else running).\n"
    )
    report.table(
        [
            "workers",
            "worker CPU ms",
            "floor worker CPU ms",
            "ratio",
            "client CPU ms",
            "machine CPU ms",
            "floor machine CPU ms",
            "ratio",
        ],  # fmt: skip
        [
            [
                str(workers),
                f"{ours.per_request_ms(ours.worker_cpu):.2f}",
                f"{floor.per_request_ms(floor.worker_cpu):.2f}",
                ratio(ours.worker_cpu, floor.worker_cpu),
                f"{ours.per_request_ms(ours.client_cpu):.2f}",
                f"{ours.per_request_ms(ours.machine_cpu):.2f}",
                f"{floor.per_request_ms(floor.machine_cpu):.2f}",
                ratio(ours.machine_cpu, floor.machine_cpu),
            ]
            for workers, (ours, floor) in single.items()
        ],
    )


def report_fixed(report: Report, ours: LoadResult, floor: LoadResult, seconds: float) -> None:
    """Section 1b: latency at the target's offered rate."""
    report.say(
        f"## 1b. Fixed offered rate: {TARGET_RATE} postbacks/s for {seconds:g} s, 2 workers\n"
    )
    report.say(
        "Open loop: latency counts from each request's scheduled send time, so a server "
        "falling behind is charged its backlog.\n"
    )
    report.table(
        [
            "server",
            "answered/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 ratio",
            "worker CPU ms/req",
            "machine CPU busy",
            "errors",
        ],  # fmt: skip
        [
            [
                name,
                f"{result.rate:.0f}",
                ms(result.percentile(0.5)),
                ms(result.percentile(0.99)),
                ms(max(result.latencies)),
                ratio(result.percentile(0.99), floor.percentile(0.99)),
                f"{result.per_request_ms(result.worker_cpu):.2f}",
                f"{100 * result.machine_cpu / result.seconds / os.cpu_count():.0f}%",
                str(result.errors),
            ]
            for name, result in (("app", ours), ("floor", floor))
        ],
    )


def report_large(report: Report, large: dict, repeats: int) -> None:
    """Sections 2 and 3: large postbacks against parse + COPY."""
    report.say(f"## 2. Large multi-page postbacks, one fresh worker each (median of {repeats})\n")
    report.say(
        "Floor: orjson parse + the same rows with COPY in one transaction (section 3 of the "
        "issue), in a fresh process. RSS growth = peak RSS (VmHWM) minus RSS just before "
        "the postback. CPU: the worker's, and the floor process's (both without PostgreSQL's).\n"
    )
    rows = []
    for (pages, issues), results in large.items():
        megabytes = results[0].megabytes
        seconds = median(results, lambda r: r.seconds)
        floor_seconds = median(results, lambda r: r.floor_seconds)
        growth = median(results, lambda r: r.growth_mb)
        floor_growth = median(results, lambda r: r.floor_growth_mb)
        rows.append(
            [
                f"{pages} x {issues}",
                f"{megabytes:.1f}",
                f"{seconds:.2f}",
                f"{min(r.seconds for r in results):.2f}-{max(r.seconds for r in results):.2f}",
                f"{floor_seconds:.2f}",
                ratio(seconds, floor_seconds),
                f"{median(results, lambda r: r.worker_cpu):.2f}",
                f"{median(results, lambda r: r.floor_cpu):.2f}",
                f"{median(results, lambda r: r.peak_rss_mb):.0f}",
                f"{growth:.0f}",
                f"{floor_growth:.0f}",
                ratio(growth, floor_growth),
                ratio(growth, megabytes),
            ]
        )
    report.table(
        [
            "pages x issues",
            "MB",
            "wall s",
            "range s",
            "floor s",
            "ratio",
            "worker CPU s",
            "floor CPU s",
            "worker peak RSS MB",
            "RSS growth MB",
            "floor growth MB",
            "ratio",
            "growth / payload",
        ],  # fmt: skip
        rows,
    )


def report_targets(report: Report, single: dict, fixed: LoadResult, large: dict) -> None:
    """PASS/FAIL for the issue's acceptance targets (never a non-zero exit)."""
    big = large[LARGE_SHAPES[0]]
    megabytes = big[0].megabytes
    seconds = median(big, lambda r: r.seconds)
    floor_seconds = median(big, lambda r: r.floor_seconds)
    growth = median(big, lambda r: r.growth_mb)
    peak = median(big, lambda r: r.peak_rss_mb)
    two = single[2][0]
    checks = [
        (
            seconds <= TARGET_TIME_RATIO * floor_seconds,
            f"1000 x 10 in at most {TARGET_TIME_RATIO}x the floor's time: "
            f"{seconds:.2f} s vs {floor_seconds:.2f} s = {seconds / floor_seconds:.1f}x",
        ),
        (
            growth < TARGET_RSS_RATIO * megabytes,
            f"1000 x 10 peak RSS under {TARGET_RSS_RATIO}x the payload ({megabytes:.1f} MB): "
            f"growth {growth:.0f} MB = {growth / megabytes:.1f}x "
            f"(whole worker {peak:.0f} MB = {peak / megabytes:.1f}x, idle worker included)",
        ),
        (
            two.rate >= TARGET_RATE,
            f"at least {TARGET_RATE} single-page postbacks/s with 2 workers: {two.rate:.0f}/s",
        ),
        (
            fixed.percentile(0.99) < TARGET_P99 and fixed.errors == 0,
            f"p99 under {TARGET_P99 * 1000:.0f} ms at {TARGET_RATE}/s offered with 2 workers: "
            f"{ms(fixed.percentile(0.99))} ms, {fixed.errors} errors",
        ),
    ]
    report.say("## Targets\n")
    for ok, text in checks:
        report.say(f"- {'PASS' if ok else 'FAIL'}: {text}")
    report.say()


def benchmark(args: argparse.Namespace) -> None:
    """Run every measurement, print the report and write RESULTS.md."""
    started = time.perf_counter()
    Client.idempotency_keys = args.idempotency_keys
    flags = GunicornFlags(worker_class=args.worker_class, threads=args.threads)
    subprocess.run([str(ROOT / "scripts" / "ensure-services.sh")], check=True)
    artifacts = make_artifacts_dir()
    env = server_env(inline_jobs=args.inline_jobs, artifacts_dir=artifacts)
    try:
        flush_queue()
        progress("creating and migrating webriskops_bench")
        create_database(env)
        info = machine()
        per_config = args.requests + 10 * max(WORKER_COUNTS)
        needed = len(WORKER_COUNTS) * per_config + int(TARGET_RATE * args.rate_seconds) + 20
        runs = create_runs(needed + 3 * args.repeats * len(LARGE_SHAPES))
        end_to_end_runs = create_runs(4 * (args.burst + 20) + 2 * args.drain + args.soak + 10)

        if args.pipeline_only:
            single, posted, fixed, fixed_floor, fixed_posted, large = {}, [], None, None, [], {}
        else:
            single, posted = run_single(args, flags, env, runs)
            fixed, fixed_floor, fixed_posted = run_fixed_rate(args, flags, env, runs)
            large = run_large(args, flags, env, runs)
        end_to_end = run_pipeline(args, flags, artifacts, end_to_end_runs)
        measured = [ours for ours, _ in single.values()] + ([fixed] if fixed else [])
        warm_ups = len(posted) + len(fixed_posted) - sum(len(r.latencies) for r in measured)
        answered = warm_ups + sum(r.statuses.get(202, 0) for r in measured)
        completed = completed_count(posted + fixed_posted)
    finally:
        flush_queue()
        remove_artifacts_dir(artifacts)

    report = Report()
    report.say(f"# Ingest benchmark ({info['date']})\n")
    report.say(
        f"Machine: `nproc` {info['nproc']}, {info['cpu']}; Python {info['python']}, "
        f"PostgreSQL {info['postgres']} and Redis on loopback; load average at start "
        f"{info['load']} (the machine is shared: compare ratios, not absolute figures).\n"
    )
    jobs = (
        "after-commit jobs run in the worker (no REDIS_URL) and are counted"
        if args.inline_jobs
        else "after-commit jobs only enqueued to RQ (REDIS_URL db 14), as in production"
    )
    keys = (
        "every postback carries its own `Idempotency-Key`"
        if args.idempotency_keys
        else "postbacks carry no `Idempotency-Key`"
    )
    report.say(f"Server: `{flags.describe()}` (app and floor alike); {jobs}; {keys}.\n")
    if not args.pipeline_only:
        report_single(report, single, args.concurrency)
        report_fixed(report, fixed, fixed_floor, args.rate_seconds)
        report_large(report, large, args.repeats)
        report_targets(report, single, fixed, large)
    report_pipeline(report, end_to_end, args, flags)
    report.say(
        f"Check: {completed} single-page runs completed in the database for {answered} "
        f"202 answers (warm-ups included). Benchmark took {time.perf_counter() - started:.0f} s. "
        "Command: `make bench` (`.venv/bin/python -m bench`)."
    )
    Path(args.results).write_text("\n".join(report.lines) + "\n")
    progress(f"wrote {args.results}")
    if Path(args.results) == DEFAULT_RESULTS:
        update_readme(report.lines)
        progress(f"updated the results in {README}")


def run_pipeline(args: argparse.Namespace, flags: GunicornFlags, artifacts: str, runs) -> dict:
    """The end-to-end measurements: with Redis and 1 or 2 workers, and without Redis."""
    with_redis = server_env(inline_jobs=False, artifacts_dir=artifacts)
    without = server_env(inline_jobs=True, artifacts_dir=artifacts)
    results = {}
    for name in filter(None, args.setups.split(",")):
        label, redis, workers = PIPELINE_SETUPS[name]
        env = with_redis if redis else without
        progress(f"end to end: {label}")
        flush_queue()
        results[label] = pipeline.measure(label, env, workers, runs, args.burst, 300, flags)
    if args.drain:
        for workers in (1, 2):
            progress(f"drain: {args.drain} queued runs, {workers} worker(s)")
            flush_queue()
            results[f"drain {workers}"] = pipeline.drain(
                with_redis, workers, runs, args.drain, flags
            )
    if args.soak:
        progress(f"soak: {args.soak} runs through one worker")
        flush_queue()
        results["soak"] = pipeline.soak(with_redis, runs, args.soak, flags)
    return results


def report_pipeline(
    report: Report, results: dict, args: argparse.Namespace, flags: GunicornFlags
) -> None:
    """Section 3: postback to report ready."""
    report.say(
        f"## 3. End to end: postback to report ready ({args.burst} single-page runs, "
        "then 1000 x 10 right after them, then 500 x 10 alone)\n"
    )
    report.say(
        f"Web tier: `{flags.describe(2)}`. Workers: `rq worker --worker-class "
        "webriskops.jobs.worker.OutboxWorker webriskops webriskops-webhooks` on the same "
        "Redis and PostgreSQL; without REDIS_URL the web processes' background pools. "
        "Runs/s counts from the first postback to the last `report_generated_at`.\n"
    )
    report.say(
        "| setup | accepted | accept/s | runs/s end to end | last report after | "
        "1000x10 202 | 1000x10 ready after its 202 | 500x10 202 | 500x10 ready after | "
        "worker RSS MB |"
    )
    report.say("|---|---|---|---|---|---|---|---|---|---|")
    for label, result in results.items():
        if label == "soak" or label.startswith("drain"):
            continue
        large, medium = result.large_after_burst, result.medium_idle
        rss = " / ".join(f"{value:.0f}" for value in result.worker_rss_mb) or "-"
        report.say(
            f"| {label} | {result.accepted}/{result.burst} | {result.accept_rate:.0f} | "
            f"{result.end_to_end_rate:.1f} | {result.last_ready_seconds:.2f} s | "
            f"{large.accept_seconds:.2f} s ({large.status}) | {large.ready_seconds:.2f} s | "
            f"{medium.accept_seconds:.2f} s | {medium.ready_seconds:.2f} s | {rss} |"
        )
    report.say("")
    one = results.get("REDIS_URL, 1 worker")
    two = results.get("REDIS_URL, 2 workers")
    none = results.get("no REDIS_URL (background pool)")
    if one and two and one.end_to_end_rate:
        report.say(
            f"Scale-out: 2 workers finish {two.end_to_end_rate / one.end_to_end_rate:.2f}x "
            "the runs/s of one.\n"
        )
    drains = [results[name] for name in ("drain 1", "drain 2") if name in results]
    if len(drains) == 2 and drains[0].rate:
        report.say(
            f"Backlog of {drains[0].runs} queued runs worked off with the web tier idle: "
            f"1 worker {drains[0].rate:.0f} runs/s, 2 workers {drains[1].rate:.0f} runs/s "
            f"({drains[1].rate / drains[0].rate:.2f}x).\n"
        )
        report.say("| workers | runs/s | worker CPU ms/run | machine CPU ms/run | machine busy |")
        report.say("|---|---|---|---|---|")
        for result in drains:
            report.say(
                f"| {result.workers} | {result.rate:.0f} | "
                f"{1000 * result.worker_cpu / result.runs:.2f} | "
                f"{1000 * result.machine_cpu / result.runs:.2f} | "
                f"{100 * result.machine_busy:.0f}% |"
            )
        report.say(
            "\nThe machine's CPU (PostgreSQL and Redis included) is what a second worker on "
            "these 2 cores can add; on a machine of its own a worker brings its own. CPU per "
            "run that stays flat from 1 to 2 workers says they do not contend.\n"
        )
    targets = []
    if one:
        targets.append(("one worker: >= 100 runs/s end to end", one.end_to_end_rate >= 100))
        targets.append(
            (
                "1000 x 10 ready within 3 s of its 202, right after the burst",
                one.large_after_burst.ready_seconds <= 3,
            )
        )
        targets.append(("5,000 findings ready within 1 s", one.medium_idle.ready_seconds <= 1))
    if one and none:
        ratio = none.large_after_burst.accept_seconds / max(
            one.large_after_burst.accept_seconds, 1e-9
        )
        targets.append(
            (f"no REDIS_URL: 1000 x 10 202 within 1.5x of with Redis ({ratio:.2f}x)", ratio <= 1.5)
        )
        targets.append(
            (
                f"no REDIS_URL: >= 120 single-page postbacks/s ({none.accept_rate:.0f})",
                none.accept_rate >= 120,
            )
        )
    for text, ok in targets:
        report.say(f"- {'PASS' if ok else 'FAIL'}: {text}")
    report.say("")
    if soak := results.get("soak"):
        points = ", ".join(f"{done}: {rss:.0f} MB" for done, rss in soak)
        report.say(f"Worker RSS over {soak[-1][0]} single-page runs (runs done: RSS): {points}.\n")


def update_readme(lines: list[str]) -> None:
    """Put the report between the README's result markers, its headings under ``## Benchmarks``."""
    text = README.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        progress(f"{README} has no {README_START} … {README_END} block; left as it is")
        return
    body = "\n".join("##" + line if line.startswith("#") else line for line in lines)
    README.write_text(text[: start + len(README_START)] + "\n" + body + "\n" + text[end:])


def main(argv: list[str]) -> None:
    """Entry point of ``python -m bench``."""
    args = parse_args(argv)
    if args.profile:
        subprocess.run([str(ROOT / "scripts" / "ensure-services.sh")], check=True)
        artifacts = make_artifacts_dir()
        env = server_env(inline_jobs=args.inline_jobs, artifacts_dir=artifacts)
        try:
            flush_queue()
            create_database(env)
            pages, issues = LARGE_SHAPES[0]
            print(profile(pages, issues, args.profile_singles, args.top, env))
        finally:
            flush_queue()
            remove_artifacts_dir(artifacts)
        return
    benchmark(args)
    redaction = ROOT / "bench" / "redaction_bench.py"
    if redaction.exists() and not args.no_redaction:
        progress("running bench/redaction_bench.py")
        print(flush=True)
        subprocess.run([sys.executable, str(redaction)], cwd=ROOT, env={**os.environ})


if __name__ == "__main__":
    main(sys.argv[1:])
