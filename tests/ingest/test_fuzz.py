"""Property-based fuzz of scanner payloads: whatever the mutation, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import payloads

NASTY_STRINGS = st.sampled_from(
    [
        "",
        "\x00",
        "nul\x00inside",
        "\ud800",
        "lone \udfff surrogate",
        "\U0001f600" * 300,
        "a" * 70000,
        "scan-runs/1/../../etc/passwd",
        "data:text/html;base64,PHNjcmlwdD4=",
        "https://user:pass@example.com/?token=abc",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "%s%s%n",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    NASTY_STRINGS,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``data``."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def _get(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def mutate(data: Any, path: tuple, action: str, value: Any) -> Any:
    """Replace, delete or wrap the value at ``path``."""
    if not path:
        return value if action == "replace" else [data]
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "wrap":
        parent[last] = {"nested": [parent[last]]}
    else:
        parent[last] = value
    return data


@st.composite
def mutated_payloads(draw: st.DrawFn, run_id: int) -> bytes:
    base = draw(
        st.sampled_from(
            [
                payloads.completed(run_id, [payloads.issue(1), payloads.issue(2, "high")]),
                payloads.multi(run_id, pages=2, issues_per_page=2, counters={"riskScore": 5}),
                payloads.failed(run_id, url="https://example.com/"),
            ]
        )
    )
    for _ in range(draw(st.integers(1, 3))):
        all_paths = paths(base)
        action = draw(st.sampled_from(["replace", "delete", "wrap", "spice", "spice"]))
        if action == "spice":
            # Keep the type, poison the content: the mutations most likely to pass validation.
            strings = [p for p in all_paths if isinstance(_get(base, p), str)] or all_paths
            base = mutate(base, draw(st.sampled_from(strings)), "replace", draw(NASTY_STRINGS))
            continue
        path = draw(st.sampled_from(all_paths))
        if action == "delete" and not path:
            action = "replace"
        base = mutate(base, path, action, draw(VALUES))
    # json (not orjson) so lone surrogates and huge integers reach the server as escapes.
    return json.dumps(base).encode()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_payloads_never_get_a_5xx(post, make_org, make_run, make_project, data):
    run = make_run()
    body = data.draw(mutated_payloads(run.id))
    response = post(body)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.status_code in (202, 400, 413, 415, 422)
    if response.status_code != 202:
        assert response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"scanRunId": 1e400, "status": "completed"}',
        b'{"scanRunId": 123456789012345678901234567890, "status": "failed"}',
        b'{"scanRunId": 1, "status": "failed",'
        b' "error": {"code": "X\\u0000Y", "message": "\\ud800"}}',
        b"\x00" * 1000,
        b'{"scanRunId": 1, "status": "completed", "page": ' + b"[" * 900 + b"]" * 900 + b"}",
    ],
    ids=[
        "deep-array",
        "deep-object",
        "float-overflow",
        "huge-int",
        "nul-surrogate",
        "nul-body",
        "deep-page",
    ],
)
def test_hostile_bodies(post, make_run, body):
    make_run()
    response = post(body)
    assert 400 <= response.status_code < 500


STRING_FIELDS = [
    "page.url",
    "page.normalizedUrl",
    "page.title",
    "page.pageType",
    "page.responseHeaders.x-powered-by",
    "artifacts.screenshotPath",
    "issues.0.category",
    "issues.0.type",
    "issues.0.title",
    "issues.0.description",
    "issues.0.fingerprint",
    "issues.0.evidence",
    "issues.0.businessImpact",
    "issues.0.suggestedRemediation",
    "issues.0.reproductionSteps.0",
]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
@pytest.mark.parametrize(
    "poison", ["nul\x00inside", "lone \ud800 surrogate"], ids=["nul", "surrogate"]
)
@pytest.mark.parametrize("field", STRING_FIELDS)
def test_unstorable_text_in_any_string_field_is_a_field_error(post, make_run, field, poison):
    run = make_run()
    data = payloads.completed(
        run.id,
        [payloads.issue(1, businessImpact="b", suggestedRemediation="s", reproductionSteps=["x"])],
    )
    mutate(data, tuple(int(p) if p.isdigit() else p for p in field.split(".")), "replace", poison)
    response = post(json.dumps(data).encode())
    if "\ud800" in poison:
        # orjson refuses lone surrogates while parsing, before any field is looked at.
        assert response.status_code == 400
    else:
        assert response.status_code == 422
        assert field in response.get_json()["error"]["fields"]
