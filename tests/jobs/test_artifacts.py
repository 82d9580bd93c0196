"""Snapshot redaction and artifact garbage collection against a real S3 server (moto)."""

from __future__ import annotations

import tracemalloc
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests import payloads
from tests.conftest import SCANNER_SECRET
from tests.jobs.conftest import AWS_KEY, GITHUB_TOKEN, SECRET_HTML, outbox_rows
from webriskops.extensions import db
from webriskops.ingest import tasks
from webriskops.models import Artifact
from webriskops.storage import S3Storage, storage


@pytest.fixture
def app_overrides(s3_server: dict[str, Any]) -> dict[str, Any]:
    """Artifacts in a fresh bucket of the S3 server (created on first use); jobs in-process."""
    return {**s3_server, "S3_BUCKET": f"wro-{uuid.uuid4().hex[:12]}"}


def keys(run_id: int) -> list[str]:
    return sorted(storage().list(f"scan-runs/{run_id}/"))


def test_storage_is_the_s3_server(app):
    assert isinstance(storage(), S3Storage)


def test_a_failed_runs_temporary_artifacts_are_gone(app, post, make_run):
    run, neighbour = make_run(), make_run()
    store = storage()
    for name in ("page-0.png", "page-0.html", "partial/upload.part"):
        store.put(f"scan-runs/{run.id}/{name}", b"temporary", "application/octet-stream")
    # Another run whose id starts with the same digits keeps its objects.
    store.put(f"scan-runs/{run.id}0/page-0.png", b"other run", "image/png")
    store.put(f"scan-runs/{neighbour.id}/page-0.png", b"other run", "image/png")

    assert post(payloads.failed(run.id)).status_code == 202

    assert keys(run.id) == []
    assert store.get(f"scan-runs/{run.id}0/page-0.png") == b"other run"
    assert keys(neighbour.id) == [f"scan-runs/{neighbour.id}/page-0.png"]


def test_a_completed_run_keeps_exactly_the_referenced_artifacts(app, post, make_run):
    run = make_run()
    prefix = f"scan-runs/{run.id}"
    payload = payloads.multi(run.id, pages=2, issues_per_page=1)
    payload["pages"][1]["page"]["url"] = "https://example.com/no-snapshot"
    del payload["pages"][1]["artifacts"]["htmlSnapshotPath"]
    payload["pages"][0]["issues"][0]["screenshotPath"] = f"{prefix}/issue-0.png"
    referenced = [
        f"{prefix}/page-0.png",
        f"{prefix}/page-0.html",
        f"{prefix}/page-1.png",
        f"{prefix}/issue-0.png",
    ]
    unreferenced = [f"{prefix}/page-1.html", f"{prefix}/tmp/chunk-1", f"{prefix}/retry-0.png"]
    store = storage()
    for key in referenced + unreferenced:
        store.put(key, b"<html>ok</html>" if key.endswith(".html") else b"png", "text/plain")

    assert post(payload).status_code == 202

    assert keys(run.id) == sorted(referenced)
    tasks.collect_artifacts(run.id)  # a second run deletes nothing more
    assert keys(run.id) == sorted(referenced)


def test_a_stored_html_snapshot_holds_no_secrets_after_the_job(app, post, make_run):
    run = make_run()
    key = f"scan-runs/{run.id}/page-0.html"
    store = storage()
    store.put(key, SECRET_HTML.encode(), "text/html")
    store.put(f"scan-runs/{run.id}/page-0.png", b"png", "image/png")

    assert post(payloads.completed(run.id)).status_code == 202

    html = store.get(key).decode()
    for secret in (AWS_KEY, GITHUB_TOKEN, SCANNER_SECRET):
        assert secret not in html
    assert "[REDACTED:" in html
    assert "Ordinary content stays: order 12345, café, version 1.2.3." in html
    artifact = db.session.scalars(select(Artifact).where(Artifact.storage_key == key)).one()
    assert artifact.redacted_at is not None
    assert {row.state for row in outbox_rows()} == {"done"}

    before = store.get(key)
    tasks.redact_snapshots(run.id)  # already recorded as redacted: nothing is rewritten
    assert store.get(key) == before


def test_redaction_keeps_bytes_it_does_not_touch(app, make_run, post):
    run = make_run()
    key = f"scan-runs/{run.id}/page-0.html"
    latin1 = "<p>Prix: 10 € – naïve</p>".encode("cp1252") + f"<i>{AWS_KEY}</i>".encode()
    storage().put(key, latin1, "text/html")
    storage().put(f"scan-runs/{run.id}/page-0.png", b"png", "image/png")
    assert post(payloads.completed(run.id)).status_code == 202
    stored = storage().get(key)
    assert AWS_KEY.encode() not in stored
    assert stored.startswith("<p>Prix: 10 € – naïve</p>".encode("cp1252"))


def test_a_large_snapshot_is_redacted_in_bounded_memory(app, make_run, post):
    run = make_run()
    key = f"scan-runs/{run.id}/page-0.html"
    filler = "<p>Ordinary content stays: order 12345, café, version 1.2.3.</p>\n" * 16_000
    html = (filler + SECRET_HTML) * 64  # 64 MB, secrets all the way through
    storage().put(key, html.encode(), "text/html; charset=utf-8")
    storage().put(f"scan-runs/{run.id}/page-0.png", b"png", "image/png")
    del html

    tracemalloc.start()
    try:
        assert post(payloads.completed(run.id)).status_code == 202
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    stored = storage().get(key)
    assert len(stored) > 60_000_000
    for secret in (AWS_KEY, GITHUB_TOKEN, SCANNER_SECRET):
        assert secret.encode() not in stored
    assert stored.count(b"[REDACTED:") >= 3 * 64
    # Read whole, decoded and redacted, it took about five times its size; streamed, a
    # few pieces of 4 MB and the spooled output (on disk beyond 8 MB).
    assert peak < 48_000_000, f"peak {peak / 1e6:.0f} MB"
