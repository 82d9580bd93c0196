"""Dispatch from the outside: the reference client against real gunicorn workers on PostgreSQL.

Short settings (an 8-second deadline) stand in for the clock; the sweep is the real
``flask --app wsgi jobs sweep`` command in a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import payloads
from tests.conftest import ROOT, SCANNER_SECRET
from tests.scans.conftest import fresh
from webriskops import scanner_client
from webriskops.extensions import db
from webriskops.models import Organization
from webriskops.scans.services import create_scan_run

pytestmark = pytest.mark.slow


def server_env(database_url: str, artifacts: Path, **settings: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgres://"),
        "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
        "WRO_ARTIFACTS_DIR": str(artifacts),
        "WRO_SCANNER_RATE_LIMIT": "100000/minute",
        "REDIS_URL": "",
        **settings,
    }


def jobs_sweep(env: dict[str, str]) -> str:
    """``flask --app wsgi jobs sweep`` as an operator's cron would run it; its stderr."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "jobs", "sweep"],
        cwd=ROOT,
        env={**os.environ, "WRO_ENV": "development", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert list(json.loads(result.stdout)) == ["enqueued"]
    return result.stderr


def test_a_scanner_claims_heartbeats_and_posts(
    app, serve, database_url, artifacts_dir, make_org, make_project
):
    org = make_org(credits=3)
    project = make_project(org)
    runs = [create_scan_run(project) for _ in range(3)]
    base_url = serve(server_env(database_url, artifacts_dir), workers=2)
    seen: list[dict] = []

    def scan(run: dict) -> dict:
        seen.append(run)
        assert fresh(run["scanRunId"]).status == "running"
        if run["scanRunId"] == runs[2].id:
            raise RuntimeError("the browser crashed")
        time.sleep(1.0)  # long enough for a few heartbeats
        return payloads.completed(run["scanRunId"])

    outcomes = scanner_client.work_claimed_runs(
        base_url, SCANNER_SECRET, scan, max=5, lease_seconds=30, heartbeat_interval=0.2
    )

    assert [run["scanRunId"] for run in seen] == [run.id for run in runs]
    assert [(o.exit_code, o.body["duplicate"]) for o in outcomes] == [(0, False)] * 3
    assert outcomes[0].idempotency_key == f"run-{runs[0].id}-attempt-1"
    crashed = fresh(runs[2].id)  # a scan that raises is reported, not left hanging
    assert (crashed.status, crashed.error_code) == ("failed", "SCANNER_ERROR")
    assert "the browser crashed" in crashed.error_message
    for run in runs[:2]:
        done = fresh(run.id)
        assert (done.status, done.credit_state, done.lease_expires_at) == (
            "completed",
            "consumed",
            None,
        )
        assert (done.finished_at - done.started_at).total_seconds() >= 1.0  # real duration
        assert done.lease_seconds == 30
    assert scanner_client.claim_runs(base_url, SCANNER_SECRET) == []
    org = db.session.get(Organization, project.organization_id, populate_existing=True)
    assert (org.credits, org.reserved_credits) == (1, 0)  # two consumed, one restored


def test_the_deadline_from_outside(app, serve, database_url, artifacts_dir, make_project):
    project = make_project()
    env = server_env(database_url, artifacts_dir, WRO_SCAN_DEADLINE_SECONDS="8")
    base_url = serve(env, workers=1)
    assert requests.get(base_url + "/healthz", timeout=60).status_code == 200  # booted
    run = create_scan_run(project)  # after the server is up: the 8 seconds start now
    created = time.monotonic()

    [claimed] = scanner_client.claim_runs(base_url, SCANNER_SECRET, lease_seconds=30)
    assert (claimed["scanRunId"], claimed["attempt"]) == (run.id, 1)
    scanner_client.heartbeat(base_url, SCANNER_SECRET, run.id)
    time.sleep(max(0.0, 8.5 - (time.monotonic() - created)))
    with pytest.raises(scanner_client.LeaseLost):
        scanner_client.heartbeat(base_url, SCANNER_SECRET, run.id)
    with scanner_client.LeaseKeeper(base_url, SCANNER_SECRET, run.id, 0.1) as keeper:
        assert keeper.lost.wait(10)  # the background heartbeat notices, and stops

    assert "1 failed with SCAN_TIMEOUT" in jobs_sweep(env)

    failed = fresh(run.id)
    assert (failed.status, failed.error_code, failed.credit_state) == (
        "failed",
        "SCAN_TIMEOUT",
        "restored",
    )
    late = scanner_client.post_results(
        base_url,
        json.dumps(payloads.completed(run.id)).encode(),
        SCANNER_SECRET,
        idempotency_key=scanner_client.idempotency_key_for(claimed),
    )
    assert (late.exit_code, late.body["duplicate"], late.body["status"]) == (0, True, "failed")
    assert "0 failed with SCAN_TIMEOUT" in jobs_sweep(env)


def test_claim_and_heartbeat_commands(serve, database_url, artifacts_dir, make_run, monkeypatch):
    from click.testing import CliRunner

    run = make_run()
    base_url = serve(server_env(database_url, artifacts_dir), workers=1)
    monkeypatch.setenv("WRO_SCANNER_SHARED_SECRET", SCANNER_SECRET)
    cli = CliRunner()

    claimed = cli.invoke(scanner_client.scanner, ["claim", "--url", base_url, "--max", "2"])
    assert claimed.exit_code == 0, claimed.output
    assert [r["scanRunId"] for r in json.loads(claimed.stdout)["runs"]] == [run.id]
    beat = cli.invoke(scanner_client.scanner, ["heartbeat", str(run.id), "--url", base_url])
    assert beat.exit_code == 0, beat.output
    assert "leaseExpiresAt" in json.loads(beat.stdout)
    lost = cli.invoke(scanner_client.scanner, ["heartbeat", "999999", "--url", base_url])
    assert lost.exit_code == scanner_client.INVALID
    assert json.loads(lost.stdout)["error"]["code"] == "SCAN_RUN_NOT_FOUND"
    monkeypatch.setenv("WRO_SCANNER_SHARED_SECRET", "wrong")
    refused = cli.invoke(scanner_client.scanner, ["claim", "--url", base_url])
    assert refused.exit_code == scanner_client.UNAUTHORIZED
