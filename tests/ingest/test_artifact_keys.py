"""Artifact keys with `.`, `..` or empty segments are refused; the GC compares canonical keys."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import update

from tests import payloads
from webriskops.extensions import db
from webriskops.ingest import fastpath, tasks
from webriskops.ingest.schemas import CompletedResultSchema
from webriskops.models import ScanPage
from webriskops.storage import canonical_key, storage

RUN_ID = 7
FAST_COMPLETED = fastpath.compile_schema(CompletedResultSchema())
BAD_KEYS = [
    f"scan-runs/{RUN_ID}/./shot.png",
    f"scan-runs/{RUN_ID}/a/./shot.png",
    f"scan-runs/{RUN_ID}/a/../shot.png",
    f"scan-runs/{RUN_ID}//shot.png",
    f"scan-runs/{RUN_ID}/shot.png/",
    f"scan-runs/{RUN_ID}/.",
]
FIELDS = {
    "artifacts.screenshotPath": lambda data, key: data["artifacts"].update(screenshotPath=key),
    "artifacts.htmlSnapshotPath": lambda data, key: data["artifacts"].update(htmlSnapshotPath=key),
    "issues.0.screenshotPath": lambda data, key: data["issues"][0].update(screenshotPath=key),
}


def _payload(field: str, key: str, run_id: int = RUN_ID) -> dict:
    data = copy.deepcopy(payloads.completed(run_id))
    FIELDS[field](data, key.replace(f"scan-runs/{RUN_ID}/", f"scan-runs/{run_id}/"))
    return data


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("key", BAD_KEYS)
def test_the_fast_path_refuses_non_canonical_keys(field, key):
    # REJECTED sends the payload to the schemas, which name the field (below).
    assert FAST_COMPLETED(_payload(field, key)) is fastpath.REJECTED


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_postback_with_a_non_canonical_key_is_a_field_error(post, make_run, field, key):
    run = make_run()
    response = post(_payload(field, key, run.id))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "VALIDATION_FAILED"
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    ("key", "canonical"),
    [
        ("scan-runs/1/./a.png", "scan-runs/1/a.png"),
        ("scan-runs/1//a.png", "scan-runs/1/a.png"),
        ("scan-runs/1/x/../a.png", "scan-runs/1/a.png"),
        ("scan-runs/1/a.png", "scan-runs/1/a.png"),
    ],
)
def test_canonical_key(key, canonical):
    assert canonical_key(key) == canonical


def test_the_collector_keeps_a_file_referenced_under_another_spelling(post, make_run, app):
    run = make_run()
    assert post(payloads.completed(run.id)).status_code == 202
    store = storage()
    store.put(f"scan-runs/{run.id}/page-0.png", b"png")
    # A key stored before ingest refused "." segments names the same file.
    db.session.execute(
        update(ScanPage)
        .where(ScanPage.scan_run_id == run.id)
        .values(screenshot_path=f"scan-runs/{run.id}/./page-0.png")
    )
    db.session.commit()
    store.put(f"scan-runs/{run.id}/stray.png", b"unreferenced")
    tasks.collect_artifacts(run.id)
    assert store.get(f"scan-runs/{run.id}/page-0.png") == b"png"
    assert not store.exists(f"scan-runs/{run.id}/stray.png")
