"""The fast acceptor may only accept what the marshmallow schemas accept, loaded alike."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from tests import payloads
from tests.ingest.test_fuzz import mutated_payloads
from webriskops.ingest import fastpath
from webriskops.ingest.schemas import _SETS, _artifact_prefix_errors, _completed, _shape_errors


def schema_verdict(data: dict) -> dict | None:
    """What the full marshmallow path makes of ``data`` (None when it refuses it)."""
    if _shape_errors(data):
        return None
    try:
        loaded = _completed.load(data)
    except ValidationError:
        return None
    return None if _artifact_prefix_errors(loaded) else loaded


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_never_accepts_what_the_schemas_refuse(data):
    body = json.loads(data.draw(mutated_payloads(7)))
    if not isinstance(body, dict):
        return
    body["status"] = "completed"
    fast = fastpath.load_completed(body, _SETS)
    if fast is not None:
        assert schema_verdict(body) == fast


@pytest.mark.parametrize(
    "payload",
    [
        payloads.completed(7, [payloads.issue(1, reproductionSteps=["a"], businessImpact="b")]),
        payloads.multi(7, pages=3, issues_per_page=2, counters={"riskScore": 5, "highCount": 1}),
        payloads.completed(7, []),
    ],
    ids=["single", "multi", "no-issues"],
)
def test_valid_payloads_take_the_fast_path_and_load_the_same(payload):
    fast = fastpath.load_completed(payload, _SETS)
    assert fast is not None
    assert fast == schema_verdict(payload)
