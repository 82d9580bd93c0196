"""The OpenAPI document: valid OpenAPI 3.1, complete, and exactly as strict as the server."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_spec

from tests import payloads
from tests.ingest.test_fuzz import mutated_payloads
from webriskops.errors import ApiError
from webriskops.ingest.idempotency import parse_key
from webriskops.ingest.schemas import Limits, load_result
from webriskops.openapi import UndocumentedRoute, build_spec


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    """The document as the app builds it, every /api/ route declared."""
    return build_spec(app, strict=True)


def test_a_standard_validator_accepts_the_document(spec, client):
    validate_spec(spec)
    assert spec["openapi"] == "3.1.0"
    assert client.get("/api/openapi.json").get_json() == spec


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_every_pattern_is_an_ecma_262_regex(spec):
    patterns = _patterns(spec)
    assert len(patterns) > 5
    for pattern in patterns:
        assert "\\Z" not in pattern and "(?P" not in pattern, pattern
        # jsonschema-rs compiles patterns with ECMA-262 semantics and refuses the others.
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def test_every_api_route_is_documented(app):
    app.add_url_rule("/api/undocumented", "undocumented", lambda: "", methods=["GET"])
    with pytest.raises(UndocumentedRoute, match="/api/undocumented"):
        build_spec(app, strict=True)
    # Served without strict, the document leaves it out instead of answering 500.
    assert "/api/undocumented" not in build_spec(app)["paths"]


def _validator(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    # jsonschema-rs, not the jsonschema package: its patterns follow ECMA-262 (where `$`
    # does not match before a final newline), as OpenAPI says they do.
    return jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})


def _body_validator(spec: dict[str, Any]) -> Any:
    operation = spec["paths"]["/api/scanner/results"]["post"]
    return _validator(operation["requestBody"]["content"]["application/json"]["schema"], spec)


GOOD = {
    "single": payloads.completed(7, [payloads.issue(1, reproductionSteps=["a"])]),
    "multi": payloads.multi(7, counters={"riskScore": 5}),
    "no-issues": payloads.completed(7, []),
    "failed": payloads.failed(7, url="https://example.com/", timeoutMs=5),
    "failed-with-extras": {**payloads.failed(7), "pages": "ignored"},
}


def _with(data: dict, path: tuple, value: Any) -> dict:
    data = payloads.deep(data)
    target = data
    for step in path[:-1]:
        target = target[step]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DROP = object()
BAD = {
    "failed-status-on-completed": _with(GOOD["single"], ("status",), "failed"),
    "completed-without-error": _with(GOOD["failed"], ("status",), "completed"),
    "failed-without-error": _with(GOOD["failed"], ("error",), _DROP),
    "unknown-status": _with(GOOD["failed"], ("status",), "running"),
    "empty-url": _with(GOOD["single"], ("page", "url"), ""),
    "empty-artifact": _with(GOOD["single"], ("artifacts", "screenshotPath"), ""),
    "url-with-space": _with(GOOD["single"], ("page", "url"), "https://exa mple.com/"),
    "ftp-url": _with(GOOD["single"], ("page", "url"), "ftp://example.com/"),
    "artifact-dotdot": _with(GOOD["single"], ("artifacts", "screenshotPath"), "scan-runs/7/../x"),
    "artifact-url": _with(GOOD["single"], ("artifacts", "screenshotPath"), "https://x/y.png"),
    "type-with-newline": _with(GOOD["single"], ("issues", 0, "type"), "slug\n"),
    "code-with-newline": _with(GOOD["failed"], ("error", "code"), "TIMEOUT\n"),
    "nul-in-title": _with(GOOD["single"], ("issues", 0, "title"), "a\x00b"),
    "too-many-steps": _with(GOOD["single"], ("issues", 0, "reproductionSteps"), ["s"] * 51),
    "pages-and-page": {**GOOD["single"], "pages": GOOD["multi"]["pages"]},
    "neither-shape": _with(
        _with(_with(GOOD["single"], ("page",), _DROP), ("artifacts",), _DROP), ("issues",), _DROP
    ),
    "half-single": _with(GOOD["single"], ("artifacts",), _DROP),
    "boolean-confidence": _with(GOOD["single"], ("issues", 0, "confidence"), True),
    "float-status-code": _with(GOOD["single"], ("page", "statusCode"), 200.5),
    "risk-over-100": _with(GOOD["multi"], ("counters", "riskScore"), 100.5),
    "too-many-headers": _with(
        GOOD["single"], ("page", "responseHeaders"), {f"h{i}": "v" for i in range(201)}
    ),
}


@pytest.mark.parametrize("name", GOOD)
def test_the_document_and_the_server_accept_valid_payloads(spec, name):
    _body_validator(spec).validate(GOOD[name])
    load_result(payloads.deep(GOOD[name]), Limits())


@pytest.mark.parametrize("name", BAD)
def test_the_document_and_the_server_refuse_invalid_payloads(spec, name):
    # One oneOf branch exactly: never both (a failed payload is not "completed").
    assert not _body_validator(spec).is_valid(BAD[name])
    with pytest.raises(ApiError):
        load_result(payloads.deep(BAD[name]), Limits())


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_whatever_the_server_accepts_the_document_accepts(spec, data):
    body = json.loads(data.draw(mutated_payloads(7)))
    try:
        loaded = load_result(body, Limits())
    except ApiError:
        return
    assert loaded is not None
    errors = [str(error) for error in _body_validator(spec).iter_errors(body)]
    assert errors == []


def _parameter(spec: dict, path: str, method: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
    return found


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        ("k", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("", False),
        ("with space inside", True),
        ("tab\there", False),
        ("é", False),
        ('""', False),
        ('"quoted"', True),
    ],
)
def test_idempotency_key_is_documented_as_parsed(spec, key, accepted):
    schema = _parameter(spec, "/api/scanner/results", "post", "Idempotency-Key")["schema"]
    documented = _validator(schema, spec).is_valid(key)
    assert documented is accepted
    try:
        parse_key(key)
        parsed = True
    except ApiError:
        parsed = False
    assert parsed is accepted


def test_headers_and_query_parameters_carry_the_server_limits(spec):
    encoding = _parameter(spec, "/api/scanner/results", "post", "Content-Encoding")
    assert encoding["in"] == "header" and set(encoding["schema"]["enum"]) == {"gzip", "identity"}
    runs = "/api/projects/{projectId}/scan-runs"
    assert _parameter(spec, runs, "get", "page")["schema"]["maximum"] == 10**9
    assert _parameter(spec, runs, "get", "perPage")["schema"]["maximum"] == 100
    schemas = spec["components"]["schemas"]
    assert schemas["CompletedResult"]["properties"]["pages"]["maxItems"] == 1000
    assert schemas["PageResult"]["properties"]["issues"]["maxItems"] == 5000
    assert schemas["Issue"]["properties"]["reproductionSteps"]["maxItems"] == 50
    assert schemas["Page"]["properties"]["url"]["minLength"] == 1
    assert schemas["Artifacts"]["properties"]["screenshotPath"]["minLength"] == 1


@pytest.mark.parametrize("app_overrides", [{"MAX_PAGES": 7}])
def test_configured_limits_reach_the_document(spec):
    pages = spec["components"]["schemas"]["CompletedResult"]["properties"]["pages"]
    assert pages["maxItems"] == 7


def test_every_error_answer_has_the_error_body(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method)


def test_the_request_discriminator_names_both_statuses(spec):
    schema = spec["paths"]["/api/scanner/results"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert schema["discriminator"]["propertyName"] == "status"
    assert set(schema["discriminator"]["mapping"]) == {"completed", "failed"}
    for name in ("CompletedResult", "FailedResult"):
        status = spec["components"]["schemas"][name]["properties"]["status"]
        assert len(status["enum"]) == 1
    assert not re.search(r"\\Z", json.dumps(spec))
