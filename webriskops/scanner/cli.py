"""``webriskops-scanner work`` and ``demo-site`` (also ``flask --app wsgi scanner …``).

Both are added to the reference client's ``scanner`` command group, so the console
script and the Flask CLI offer the same commands. ``work`` logs to stderr and, when
it ends, prints one JSON object: the runs it handled and how each ended.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

import click

from webriskops.scanner.settings import ScannerSettings


@click.command("work")
@click.option(
    "--api-url",
    envvar="WRO_API_URL",
    required=True,
    help="WebRiskOps base URL (or WRO_API_URL), e.g. https://wro.example.com",
)
@click.option(
    "--once",
    is_flag=True,
    help="Finish the runs queued now, then exit (instead of waiting for more).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 50),
    default=None,
    help="Runs scanned at the same time (WRO_SCANNER_CONCURRENCY, default 2).",
)
@click.option(
    "--max-pages",
    type=click.IntRange(1, 1000),
    default=None,
    help="Pages per run (WRO_SCANNER_MAX_PAGES, default 50).",
)
@click.option(
    "--max-depth",
    type=click.IntRange(0, 20),
    default=None,
    help="Links away from the base URL (WRO_SCANNER_MAX_DEPTH, default 3).",
)
def work_command(
    api_url: str, once: bool, concurrency: int | None, max_pages: int | None,
    max_depth: int | None,
) -> None:  # fmt: skip
    """Claim queued scan runs, scan their sites and post the results."""
    # Late: every `flask`/`webriskops-scanner` start loads this module; the runtime only on `work`.
    from webriskops.scanner.runtime import Runtime

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        settings = ScannerSettings.from_env(
            api_url=api_url, concurrency=concurrency, max_pages=max_pages, max_depth=max_depth
        )
        runtime = Runtime(settings)
    except ValueError as error:
        click.echo(json.dumps({"error": {"code": "USAGE", "message": str(error)}}))
        sys.exit(5)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (Heroku, systemd) and Ctrl-C stop claiming; runs in progress are
        # dropped unposted and their leases expire, so another scanner retries them.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runtime.stop.set())
    status = runtime.work(once=once)
    ended: dict[str, int] = {}
    for _run_id, outcome in runtime.outcomes:
        ended[outcome] = ended.get(outcome, 0) + 1
    click.echo(json.dumps({"runs": len(runtime.outcomes), "outcomes": ended}))
    sys.exit(status)


@click.command("demo-site")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
def demo_site_command(host: str, port: int) -> None:
    """Serve a small website with known problems to scan (Ctrl-C stops it)."""
    from webriskops.scanner import demo_site  # late: only `demo-site` needs the demo server

    server = demo_site.start(demo_site.DemoSite(), host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    click.echo(json.dumps({"url": url, "planted": sorted(demo_site.PLANTED)}))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


COMMANDS = (work_command, demo_site_command)
