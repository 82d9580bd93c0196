"""The work loop against the real app: ``--once`` drains the queue, failures are posted
with the contract's codes, a lost lease drops the run unposted, a wrong secret stops
the scanner, and the console script and ``flask scanner work`` both run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SCANNER_SECRET, free_port
from tests.scanner.conftest import make_settings
from webriskops.extensions import db
from webriskops.models import Project, ScanRun
from webriskops.scanner import runtime as runtime_module
from webriskops.scanner.runtime import Runtime
from webriskops.scanner_client import ACCEPTED, UNAUTHORIZED
from webriskops.scans.services import cancel_run, create_scan_run

pytestmark = pytest.mark.slow


@pytest.fixture
def api(app, api_server) -> str:
    """The URL of the app under gunicorn (``app`` cleans the tables after the test)."""
    return api_server.url


def project_for(org, base_url: str) -> Project:
    project = Project(organization_id=org.id, name=base_url, base_url=base_url)
    db.session.add(project)
    db.session.commit()
    return project


def fresh(run_id: int) -> ScanRun:
    db.session.expire_all()
    return db.session.get(ScanRun, run_id)


def test_console_script_drains_the_queue_and_posts_failures_with_their_codes(
    api, api_server, make_org, scripted_site
):
    site = scripted_site()
    site.page("/")
    org = make_org(credits=5)
    good = create_scan_run(project_for(org, site.base_url))
    refused_url = f"http://127.0.0.1:{free_port()}/"
    refused = create_scan_run(project_for(org, refused_url))
    script = Path(sys.executable).with_name("webriskops-scanner")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
        "WRO_SCANNER_ALLOW_PRIVATE": "1",
        "WRO_SCANNER_SCREENSHOTS": "0",
        "WRO_ARTIFACTS_DIR": str(api_server.artifacts),
    }

    result = subprocess.run(
        [str(script), "work", "--api-url", api, "--once"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"runs": 2, "outcomes": {"completed": 1, "failed": 1}}
    assert fresh(good.id).status == "completed"
    failed = fresh(refused.id)
    assert (failed.status, failed.credit_state) == ("failed", "restored")
    assert (failed.error_code, failed.error_url) == ("CONNECTION_REFUSED", refused_url)


def test_a_lost_lease_drops_the_run_without_posting(api, api_server, make_org, scripted_site):
    site = scripted_site()
    site.delay = 0.3
    site.page("/", "".join(f'<a href="/p{i}">p</a>' for i in range(30)))
    for i in range(30):
        site.page(f"/p{i}")
    run = create_scan_run(project_for(make_org(), site.base_url))
    storage = {"ARTIFACTS_DIR": str(api_server.artifacts)}
    settings = make_settings(api_url=api, secret=SCANNER_SECRET, heartbeat_seconds=0.2,
                             site_concurrency=1, storage=storage)  # fmt: skip
    runtime = Runtime(settings)
    worker = threading.Thread(target=runtime.work, kwargs={"once": True})
    worker.start()
    deadline = time.monotonic() + 30
    while not site.requests and time.monotonic() < deadline:
        time.sleep(0.05)

    cancel_run(run.id)  # the customer cancels: the next heartbeat answers LEASE_LOST
    worker.join(30)

    assert not worker.is_alive()
    assert runtime.outcomes == [(run.id, "dropped")]
    assert len(site.requests) < 31  # the crawl stopped early
    assert (fresh(run.id).status, fresh(run.id).error_code) == ("failed", "CANCELLED")


def test_a_wrong_secret_stops_the_scanner(api, make_run):
    make_run()
    runtime = Runtime(make_settings(api_url=api, secret="not-the-secret"))
    assert runtime.work(once=True) == UNAUTHORIZED
    assert runtime.outcomes == []


def test_an_empty_queue_ends_work_once_at_once(api):
    runtime = Runtime(make_settings(api_url=api, secret=SCANNER_SECRET))
    started = time.monotonic()
    assert runtime.work(once=True) == ACCEPTED
    assert time.monotonic() - started < 5


def test_flask_cli_offers_the_runtime(runner):
    result = runner.invoke(args=["scanner", "work", "--help"])
    assert result.exit_code == 0
    assert "--api-url" in result.output and "--once" in result.output


def test_a_result_the_api_refuses_fails_the_run_instead_of_hanging(
    api, make_org, scripted_site, monkeypatch
):
    site = scripted_site()
    site.page("/")
    run = create_scan_run(project_for(make_org(), site.base_url))
    scanned = runtime_module.scan

    def broken_scan(*args, **kwargs):
        result = scanned(*args, **kwargs)
        result.payload["pages"][0]["page"]["title"] = "nul \x00 is fine"  # replaced, not refused
        result.payload["pages"][0]["issues"] = [{"type": "BAD TYPE"}]  # a scanner bug
        return result

    monkeypatch.setattr(runtime_module, "scan", broken_scan)
    runtime = Runtime(make_settings(api_url=api, secret=SCANNER_SECRET))

    assert runtime.work(once=True) == ACCEPTED

    assert runtime.outcomes == [(run.id, "refused:422"), (run.id, "failed")]
    failed = fresh(run.id)
    assert (failed.status, failed.credit_state, failed.error_code) == (
        "failed",
        "restored",
        "RESULT_REFUSED",
    )
    assert "pages.0.issues.0.category" in failed.error_message
