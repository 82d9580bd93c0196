"""A real ``rq worker`` process (the Procfile's): jobs in the app context, crash recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import select

from tests import payloads
from tests.jobs.conftest import AWS_KEY, GITHUB_TOKEN, SECRET_HTML, outbox_rows, wait_until
from tests.webhooks.conftest import add_endpoint, receiver  # noqa: F401  (a fixture)
from webriskops.extensions import db
from webriskops.jobs import queue
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


def test_a_worker_killed_mid_batch_leaves_every_job_done_exactly_once(
    app,
    post,
    make_run,
    make_project,
    rq_worker,
    runner,
    receiver,  # noqa: F811
    tmp_path: Path,
):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True  # the receiver is on loopback
    project = make_project()
    runs = [make_run(project) for _ in range(6)]
    # Added after the runs were created: no scan_run.queued events, 2 events per run.
    add_endpoint(runner, project.organization_id, receiver.url)
    for run in runs:
        upload_pages(run.id, 2)
        assert post(payloads.multi(run.id, pages=2)).status_code == 202
    gate = tmp_path / "gate"
    environment = {"WRO_TEST_GATE": str(gate), "WRO_WEBHOOKS_ALLOW_PRIVATE": "1"}
    # The 5th snapshot write is the third run's: the first RQ job has taken the other
    # runs into its batch by then, and the two before are done.
    gated = "tests.jobs.gated_worker.GatedWorker"
    worker = rq_worker(gated, WRO_TEST_GATE_AFTER="5", **environment)
    wait_until(lambda: gate.exists() and gate.read_text(), timeout=60)
    finished = [row for row in outbox_rows() if row.name == "finish_scan_run"]
    assert [row.state for row in finished[:2]] == ["done", "done"]
    assert (finished[2].state, finished[2].attempts) == ("enqueued", 1)
    assert Queue(queue.QUEUE_NAME, connection=queue.connection()).count == 0  # all taken

    worker.kill()  # SIGKILL in the middle of the batch
    rq_worker(**environment)

    # The sweeper finds the rows whose RQ jobs went with the batch and hands them over.
    wait_until(lambda: all_done() and len(receiver.requests) >= 12, timeout=150)
    for run in runs:
        assert_correct_result(run.id, 2)
    rows = outbox_rows()
    # Rows taken from the queue together are claimed together: the one killed and the
    # three not reached yet each counted an attempt, and each ran to the end once.
    assert [row.attempts for row in rows if row.name == "finish_scan_run"] == [1, 1, 2, 2, 2, 2]
    deliveries = [row for row in rows if row.name == "deliver_webhook"]
    assert len(deliveries) == 12 and all(row.attempts == 1 for row in deliveries)
    webhook_ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(webhook_ids) == 12 and len(set(webhook_ids)) == 12  # each event sent once
