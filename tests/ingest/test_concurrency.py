"""Parallel duplicate postbacks against real gunicorn processes: one set of rows, one settlement."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests
from sqlalchemy import func, select

from tests import payloads
from tests.conftest import SCANNER_SECRET
from webriskops.extensions import db
from webriskops.models import CreditEntry, Issue, IssueOccurrence, Organization, ScanPage, ScanRun
from webriskops.scans.services import create_scan_run

PARALLEL = 12


def fire(base_url: str, bodies: list[bytes], keys: list[str | None]) -> list[requests.Response]:
    """Send every body at once (as far as threads allow) and collect the answers."""

    def send(args: tuple[bytes, str | None]) -> requests.Response:
        body, key = args
        headers = {
            "X-Scanner-Secret": SCANNER_SECRET,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        if key:
            headers["Idempotency-Key"] = key
        return requests.post(
            f"{base_url}/api/scanner/results", data=gzip.compress(body), headers=headers, timeout=60
        )

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, zip(bodies, keys, strict=True)))


def server_env(database_url: str, artifacts: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgres://"),
        "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
        "WRO_ARTIFACTS_DIR": str(artifacts),
        "WRO_SCANNER_RATE_LIMIT": "100000/minute",
    }


def rows(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "no-key"])
def test_parallel_duplicates_store_one_set(
    app, serve, database_url, artifacts_dir, make_run, same_key
):
    run = make_run()
    org_id = run.project.organization_id
    base_url = serve(server_env(database_url, artifacts_dir), workers=3, threads=4)
    body = orjson.dumps(payloads.multi(run.id, pages=20, issues_per_page=10))

    responses = fire(base_url, [body] * PARALLEL, ["same-attempt" if same_key else None] * PARALLEL)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r.json() for r in responses if r.status_code == 202]
    fresh = [r for r in accepted if not r["duplicate"]]
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    # One request stored the result; every other one was a replay, a duplicate or a 409.
    assert len(fresh) == 1 + len(replayed)
    assert all(r.json()["issuesStored"] == 200 for r in replayed)
    assert all("database is locked" not in r.text for r in responses)
    if not same_key:
        assert statuses.count(202) == PARALLEL

    db.session.expire_all()
    assert (rows(ScanPage), rows(Issue), rows(IssueOccurrence)) == (20, 200, 200)
    settlements = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.settles_run_id == run.id)
    )
    assert settlements == 1
    assert db.session.get(ScanRun, run.id).status == "completed"
    org = db.session.get(Organization, org_id)
    assert org.reserved_credits == 0


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_parallel_postbacks_for_many_runs(
    app, serve, database_url, artifacts_dir, make_org, make_project
):
    """Distinct runs in parallel on several workers: all land (SQLite: no 'database is locked')."""
    project = make_project(make_org(credits=PARALLEL))
    runs = [create_scan_run(project) for _ in range(PARALLEL)]
    base_url = serve(server_env(database_url, artifacts_dir), workers=3, threads=2)
    bodies = [
        orjson.dumps(payloads.completed(run.id) if n % 3 else payloads.failed(run.id))
        for n, run in enumerate(runs)
    ]
    responses = fire(base_url, bodies, [None] * PARALLEL)

    assert [r.status_code for r in responses] == [202] * PARALLEL, [r.text for r in responses]
    db.session.expire_all()
    statuses = db.session.scalars(select(ScanRun.status).order_by(ScanRun.id)).all()
    assert statuses == ["failed" if n % 3 == 0 else "completed" for n in range(PARALLEL)]
