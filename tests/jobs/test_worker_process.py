"""A real ``rq worker`` process (the Procfile's): jobs in the app context, crash recovery."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import payloads
from tests.jobs.conftest import AWS_KEY, GITHUB_TOKEN, SECRET_HTML, outbox_rows, wait_until
from webriskops.extensions import db
from webriskops.models import Artifact, ScanRun
from webriskops.storage import storage

pytestmark = pytest.mark.slow


def upload_pages(run_id: int, pages: int) -> None:
    store = storage()
    for n in range(pages):
        store.put(f"scan-runs/{run_id}/page-{n}.png", b"\x89PNG fake", "image/png")
        store.put(f"scan-runs/{run_id}/page-{n}.html", SECRET_HTML.encode(), "text/html")
    store.put(f"scan-runs/{run_id}/upload.tmp", b"partial upload", "application/octet-stream")


def all_done() -> bool:
    rows = outbox_rows()
    return bool(rows) and all(row.state == "done" for row in rows)


def assert_correct_result(run_id: int, pages: int) -> None:
    store = storage()
    db.session.rollback()
    run = db.session.get(ScanRun, run_id)
    assert run.report_status == "ready"
    snapshots = db.session.scalars(
        select(Artifact).where(Artifact.scan_run_id == run_id, Artifact.kind == "html_snapshot")
    ).all()
    assert len(snapshots) == pages
    for artifact in snapshots:
        assert artifact.redacted_at is not None
        html = store.get(artifact.storage_key).decode()
        assert AWS_KEY not in html and GITHUB_TOKEN not in html
        assert "Ordinary content stays" in html
    keys = sorted(store.list(f"scan-runs/{run_id}/"))
    assert keys == sorted(
        [f"scan-runs/{run_id}/page-{n}.{ext}" for n in range(pages) for ext in ("html", "png")]
    )


def test_a_worker_process_runs_the_jobs_in_the_app(app, post, make_run, rq_worker):
    run = make_run()
    upload_pages(run.id, 2)
    assert post(payloads.multi(run.id, pages=2)).status_code == 202
    worker = rq_worker()
    wait_until(all_done, timeout=60)
    assert_correct_result(run.id, 2)
    assert all(row.attempts == 1 for row in outbox_rows())
    assert worker.process.poll() is None


@pytest.mark.parametrize("victim", ["whole worker", "work horse"])
def test_a_worker_killed_mid_job_leaves_a_correct_result(
    app, post, make_run, rq_worker, tmp_path: Path, victim: str
):
    run = make_run()
    upload_pages(run.id, 3)
    assert post(payloads.multi(run.id, pages=3)).status_code == 202
    gate = tmp_path / "gate"
    worker = rq_worker("tests.jobs.gated_worker.GatedWorker", WRO_TEST_GATE=str(gate))

    # The redaction job has rewritten one snapshot and hangs before recording it.
    horse = int(wait_until(lambda: gate.exists() and gate.read_text(), timeout=60))
    redact = next(row for row in outbox_rows() if row.name == "redact_snapshots")
    assert (redact.state, redact.attempts) == ("enqueued", 1)
    db.session.rollback()
    assert not any(
        db.session.scalars(select(Artifact.redacted_at).where(Artifact.scan_run_id == run.id))
    )

    if victim == "whole worker":
        worker.kill()
        os.kill(horse, signal.SIGKILL)
        rq_worker("tests.jobs.gated_worker.GatedWorker", WRO_TEST_GATE=str(gate))
    else:
        os.kill(horse, signal.SIGKILL)  # the parent notices and carries on

    wait_until(all_done, timeout=90)
    assert_correct_result(run.id, 3)
    redact = next(row for row in outbox_rows() if row.name == "redact_snapshots")
    assert redact.attempts == 2
