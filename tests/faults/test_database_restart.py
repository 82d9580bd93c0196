"""A PostgreSQL restart during postbacks: 503 with Retry-After, keys free, nothing half-stored.

Each test runs its own PostgreSQL cluster (``private_postgres``) and restarts or stops it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from tests import payloads
from tests.conftest import SCANNER_SECRET, make_config
from webriskops import create_app
from webriskops.extensions import db
from webriskops.ingest import service
from webriskops.models import Project, ScanPage, ScanRun, create_organization
from webriskops.scans.services import create_scan_run

pytestmark = pytest.mark.slow
HEADERS = {"X-Scanner-Secret": SCANNER_SECRET, "Content-Type": "application/json"}


@pytest.fixture
def pg_app(private_postgres, artifacts_dir: Path) -> Iterator[Flask]:
    """The app on the private cluster."""
    app = create_app(
        make_config(SQLALCHEMY_DATABASE_URI=private_postgres.url, ARTIFACTS_DIR=str(artifacts_dir))
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _runs(count: int) -> list[int]:
    org = create_organization("Acme", count + 5)
    db.session.flush()
    project = Project(organization_id=org.id, name="Site", base_url="https://example.com")
    db.session.add(project)
    db.session.commit()
    ids = [create_scan_run(project).id for _ in range(count)]
    db.session.remove()  # hold no connection while the test restarts the server
    return ids


def _stored(run_id: int) -> tuple[str, int]:
    db.session.remove()
    run = db.session.get(ScanRun, run_id)
    pages = db.session.scalar(
        select(func.count()).select_from(ScanPage).where(ScanPage.scan_run_id == run_id)
    )
    return run.status, pages


def test_a_stopped_database_answers_503_with_retry_after(pg_app, private_postgres):
    (run_id,) = _runs(1)
    client = pg_app.test_client()
    body = orjson.dumps(payloads.multi(run_id, pages=3))
    private_postgres.stop()
    try:
        response = client.post("/api/scanner/results", data=body, headers=HEADERS)
        assert response.status_code == 503
        assert response.json["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(response.headers["Retry-After"]) >= 1
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["checks"]["database"] != "ok"
    finally:
        private_postgres.start()
    assert client.post("/api/scanner/results", data=body, headers=HEADERS).status_code == 202


def test_a_key_held_by_a_postback_the_restart_killed_is_free_at_once(
    pg_app, private_postgres, monkeypatch
):
    (run_id,) = _runs(1)
    client = pg_app.test_client()
    body = orjson.dumps(payloads.multi(run_id, pages=3))
    headers = {**HEADERS, "Idempotency-Key": "restart-" + uuid.uuid4().hex}
    original = service._lock_run

    def database_dies(scan_run_id: int):
        # The key is claimed and committed; the database goes away before the results are
        # stored, so the key cannot be released either.
        private_postgres.stop(mode="immediate")
        return original(scan_run_id)

    monkeypatch.setattr(service, "_lock_run", database_dies)
    response = client.post("/api/scanner/results", data=body, headers=headers)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Retry-After" in response.headers
    monkeypatch.setattr(service, "_lock_run", original)
    private_postgres.start()

    assert _stored(run_id) == ("queued", 0)  # nothing half-stored
    retry = client.post("/api/scanner/results", data=body, headers=headers)
    assert retry.status_code == 202, retry.json  # not 409 for two minutes
    assert retry.json["pagesStored"] == 3
    assert _stored(run_id) == ("completed", 3)
    replay = client.post("/api/scanner/results", data=body, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"


def test_restart_during_postbacks_on_gunicorn_gives_no_500(pg_app, private_postgres, serve):
    run_ids = _runs(120)
    base = serve(
        {
            "DATABASE_URL": private_postgres.url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": pg_app.config["ARTIFACTS_DIR"],
        },
        workers=2,
        threads=4,
    )
    bodies = {run_id: orjson.dumps(payloads.multi(run_id, pages=2)) for run_id in run_ids}
    keys = {run_id: uuid.uuid4().hex for run_id in run_ids}
    answered = threading.Semaphore(0)

    def post(run_id: int) -> requests.Response:
        response = requests.post(
            f"{base}/api/scanner/results",
            data=bodies[run_id],
            headers={**HEADERS, "Idempotency-Key": keys[run_id]},
            timeout=30,
        )
        answered.release()
        return response

    def restart_after_some_answers() -> None:
        for _ in range(30):
            answered.acquire()
        private_postgres.restart()

    restarter = threading.Thread(target=restart_after_some_answers)
    restarter.start()
    with ThreadPoolExecutor(8) as pool:
        first = dict(zip(run_ids, pool.map(post, run_ids), strict=True))
    restarter.join(60)
    db.engine.dispose()  # the test's own pooled connections died with the restart

    statuses = {response.status_code for response in first.values()}
    assert statuses <= {202, 503}, {
        run_id: (r.status_code, r.text[:200]) for run_id, r in first.items() if r.status_code > 503
    }
    unavailable = [run_id for run_id, r in first.items() if r.status_code == 503]
    assert unavailable, "the restart hit no postback in flight"
    for run_id in unavailable:
        assert first[run_id].json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert int(first[run_id].headers["Retry-After"]) >= 1
    # The scanner's retry with the same key is accepted at once (no 409 for 120 s).
    for run_id in unavailable:
        assert post(run_id).status_code == 202
    for run_id in run_ids:
        assert _stored(run_id) == ("completed", 2)
