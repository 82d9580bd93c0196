"""Long-lived processes keep the garbage collector off what start-up built."""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq.worker import SimpleWorker

from webriskops import heap
from webriskops.jobs import worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as it was, back after the test (a frozen heap is never collected)."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settling_freezes_the_heap_and_collects_young_objects_less_often(collector):
    assert gc.get_freeze_count() == 0
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


def test_a_full_collection_no_longer_walks_the_settled_heap(collector):
    gc.collect()
    assert len(gc.get_objects(generation=2)) > 10_000  # the app, the test session
    heap.settle()
    # Frozen objects belong to no generation: a full collection walks only newer ones.
    assert len(gc.get_objects(generation=2)) < 100


def test_gunicorn_workers_settle_once_the_app_is_loaded(collector):
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    settings.post_worker_init(None)
    assert gc.get_freeze_count() > 0


def test_the_job_worker_settles_after_building_its_app(collector, monkeypatch, app):
    order: list[str] = []
    monkeypatch.setattr(worker, "worker_app", lambda: order.append("app") or app)
    monkeypatch.setattr(heap, "settle", lambda: order.append("settle"))
    monkeypatch.setattr(SimpleWorker, "bootstrap", lambda self, *a, **k: order.append("rq"))
    outbox_worker = worker.OutboxWorker(["webriskops"], connection=redis.Redis())
    outbox_worker.bootstrap()
    assert order == ["app", "settle", "rq"]
