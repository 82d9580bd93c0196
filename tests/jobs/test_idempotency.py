"""Running a job twice changes nothing the second time (through the outbox, or called again)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests import payloads
from tests.jobs.conftest import SECRET_HTML, outbox_rows
from webriskops.extensions import db
from webriskops.ingest import tasks
from webriskops.jobs import registry, runner
from webriskops.models import Artifact, OutboxJob, ScanRun
from webriskops.models.webhooks import OwnerNotification, WebhookDelivery
from webriskops.storage import storage


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """In-process jobs."""
    return {}


def state(run_id: int) -> dict[str, Any]:
    """Everything the jobs of a run can change."""
    db.session.rollback()
    store = storage()
    run = db.session.get(ScanRun, run_id)
    result = {
        "objects": {key: store.get(key) for key in store.list(f"scan-runs/{run_id}/")},
        "artifacts": db.session.execute(
            select(Artifact.id, Artifact.redacted_at).order_by(Artifact.id)
        ).all(),
        "report": (run.report_status, run.report_generated_at, run.report_summary),
        "outbox": [(row.id, row.name, row.state, row.attempts) for row in outbox_rows()],
        "notices": db.session.scalar(select(func.count()).select_from(OwnerNotification)),
        "deliveries": db.session.scalar(select(func.count()).select_from(WebhookDelivery)),
    }
    db.session.rollback()
    return result


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_every_job_run_twice_changes_nothing(app, post, make_run, make_user, outcome):
    run = make_run()
    make_user(run.project.organization, "owner@acme.test", role="owner")
    store = storage()
    store.put(f"scan-runs/{run.id}/page-0.png", b"png", "image/png")
    store.put(f"scan-runs/{run.id}/page-0.html", SECRET_HTML.encode(), "text/html")
    store.put(f"scan-runs/{run.id}/leftover.tmp", b"tmp", "application/octet-stream")
    payload = payloads.completed(run.id) if outcome == "completed" else payloads.failed(run.id)
    assert post(payload).status_code == 202
    after_first = state(run.id)
    assert {row[2] for row in after_first["outbox"]} == {"done"}

    jobs = db.session.scalars(select(OutboxJob).order_by(OutboxJob.id)).all()
    calls = [(job.id, job.name, dict(job.args)) for job in jobs]
    db.session.rollback()
    for outbox_id, name, args in calls:
        assert runner.run(outbox_id) == "skipped"  # the same outbox job again
        registry.get(name).function(**args)  # the task itself again
    for name in ("redact_snapshots", "collect_artifacts", "generate_report", "automate_failure"):
        registry.get(name).function(scan_run_id=run.id)  # each step of the run's job alone
    assert state(run.id) == after_first


def test_redaction_keeps_the_batches_it_finished_and_stamps_nothing_unredacted(
    app, post, make_run, monkeypatch
):
    run = make_run()
    payload = payloads.multi(run.id, pages=3, issues_per_page=0)
    store = storage()
    for n in range(3):
        store.put(f"scan-runs/{run.id}/page-{n}.png", b"png", "image/png")
        store.put(f"scan-runs/{run.id}/page-{n}.html", SECRET_HTML.encode(), "text/html")
    broken = f"scan-runs/{run.id}/page-2.html"
    redact_object = tasks._redact_object

    def failing(store, redactor, key):
        if key == broken:
            raise OSError("storage went away")
        redact_object(store, redactor, key)

    monkeypatch.setattr(tasks, "STAMP_BATCH", 1)
    monkeypatch.setattr(tasks, "_redact_object", failing)
    assert post(payload).status_code == 202

    def stamped() -> dict[str, bool]:
        db.session.rollback()
        query = select(Artifact.storage_key, Artifact.redacted_at)
        rows = db.session.execute(query.where(Artifact.kind == "html_snapshot"))
        return {key.rsplit("/", 1)[1]: at is not None for key, at in rows}

    # The batches before the failure were committed; the failed one is not stamped.
    assert stamped() == {"page-0.html": True, "page-1.html": True, "page-2.html": False}
    assert store.get(broken) == SECRET_HTML.encode()
    assert [(row.name, row.state) for row in outbox_rows()][-1] == ("redact_snapshots", "pending")
    monkeypatch.undo()
    tasks.redact_snapshots(run.id)
    db.session.commit()
    assert stamped() == {"page-0.html": True, "page-1.html": True, "page-2.html": True}
    assert b"[REDACTED:" in store.get(broken)
