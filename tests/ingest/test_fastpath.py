"""The fast acceptor is compiled from the schemas: every constraint has its fast twin.

The mutation test tightens each constraint of every field a postback can carry (each
length, range, enum and pattern, each "required", each limit of the response headers)
in a copy of the schema, recompiles the fast path from it, and checks that the schema,
the fast path and ``load_result`` all refuse a payload that the untouched schema takes.
A constraint the compiler ignored would let the fast path accept, and fail the test.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from tests import payloads
from tests.ingest.test_fuzz import mutated_payloads
from webriskops.errors import ApiError
from webriskops.ingest import fastpath, schemas
from webriskops.ingest.fields import Pattern, ResponseHeaders, Text, refuse_secret
from webriskops.ingest.schemas import Limits, load_result

MISSING = object()


def _full_issue(n: int) -> dict[str, Any]:
    return payloads.issue(
        n,
        businessImpact="Pages can be framed.",
        suggestedRemediation="Send the header.",
        reproductionSteps=["Open the page", "Read the headers"],
        screenshotPath=f"scan-runs/7/issue-{n}.png",
    )


def _full_page(n: int) -> dict[str, Any]:
    entry = payloads.page(7, n, [_full_issue(n)])
    entry["page"].update(consoleErrorsCount=2, networkErrorsCount=1, loadTimeMs=950)
    return entry


COUNTERS = {
    "pagesScanned": 1,
    "issuesCount": 1,
    "highCount": 0,
    "mediumCount": 1,
    "lowCount": 0,
    "riskScore": 4.5,
}
# Payloads carrying every field the schemas know, each value valid.
BASES: dict[str, dict[str, Any]] = {
    "single": {"scanRunId": 7, "status": "completed", **_full_page(0), "counters": COUNTERS},
    "multi": {
        "scanRunId": 7,
        "status": "completed",
        "pages": [_full_page(1), _full_page(2)],
        "counters": COUNTERS,
    },
    "failed": payloads.failed(7, url="https://example.com/slow", timeoutMs=30000),
}


def _fields(schema: Schema, data: Any, path: tuple) -> Iterator[tuple[tuple, fields.Field, Any]]:
    for name, field in schema.load_fields.items():
        value = data.get(name, MISSING) if isinstance(data, dict) else MISSING
        yield from _field(field, value, (*path, name))


def _field(field: fields.Field, value: Any, path: tuple) -> Iterator[tuple]:
    yield path, field, value
    if isinstance(field, fields.Nested) and value is not MISSING:
        yield from _fields(field.schema, value, path)
    elif isinstance(field, fields.List) and value not in (MISSING, []):
        yield from _field(field.inner, value[0], (*path, 0))


def field_at(schema: Schema, path: tuple) -> fields.Field:
    """The field object at ``path`` ("pages", 0, "issues", 0, "title") inside ``schema``."""
    field: Any = None
    for step in path:
        field = field.inner if isinstance(step, int) else schema.fields[step]
        if isinstance(field, fields.Nested):
            schema = field.schema
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            schema = field.inner.schema
    return field


def _tighter(rule: Any, value: Any) -> Any:
    """``rule`` changed just enough to refuse ``value``."""
    kind = type(rule)
    if kind is validate.Range:
        if rule.min is None or value - 1 >= rule.min:
            return validate.Range(min=rule.min, max=value - 1)
        return validate.Range(min=value + 1, max=rule.max)
    if kind is validate.Length:
        size = len(value)
        if size - 1 >= (rule.min or 0):
            return validate.Length(min=rule.min, max=size - 1)
        return validate.Length(min=size + 1, max=rule.max)
    if kind is validate.OneOf:
        return validate.OneOf([choice for choice in rule.choices if choice != value])
    if kind is Pattern:
        return Pattern(f"^(?!{re.escape(value)}$){rule.regex.pattern[1:]}")
    raise AssertionError(f"no mutation for {rule!r}: add one")


def mutations() -> Iterator[Any]:
    """One pytest param per (payload, field, constraint)."""
    for base_name, base in BASES.items():
        schema = schemas.SCHEMAS[base["status"]]
        for path, field, value in _fields(schema, base, ()):
            where = f"{base_name}:{'.'.join(map(str, path))}"
            if value is MISSING:
                continue
            if not isinstance(path[-1], int):
                yield pytest.param(base_name, path, "required", None, id=f"{where}:required")
            for index, rule in enumerate(field.validators):
                if rule is refuse_secret:
                    # A fixed rule, not a bound to tighten; its twin is the one-pass
                    # ``holds_stored_secret``, tested in test_fields_stored_as_sent.py.
                    continue
                yield pytest.param(
                    base_name, path, "validator", index, id=f"{where}:{type(rule).__name__}"
                )
            if isinstance(field, ResponseHeaders):
                for limit in ("max_entries", "max_name_length", "max_value_length"):
                    yield pytest.param(base_name, path, "headers", limit, id=f"{where}:{limit}")


def _drop(data: dict, path: tuple) -> None:
    for step in path[:-1]:
        data = data[step]
    del data[path[-1]]


def _value(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def fresh(status: str) -> Schema:
    """A new instance of the schema of ``status``, safe to change.

    Not a deepcopy: marshmallow copies fields shallowly, so a copy would share its
    nested schemas and validator lists with the app's own instance.
    """
    return type(schemas.SCHEMAS[status])()


def mutate(base_name: str, path: tuple, kind: str, detail: Any) -> tuple[Schema, dict]:
    """A tightened copy of the payload's schema, and a payload it must refuse."""
    payload = copy.deepcopy(BASES[base_name])
    schema = fresh(payload["status"])
    field = field_at(schema, path)
    value = _value(payload, path)
    if kind == "required":
        field.required = True
        _drop(payload, path)
    elif kind == "validator":
        field.validators = [*field.validators]
        field.validators[detail] = _tighter(field.validators[detail], value)
    else:
        if detail == "max_entries":
            setattr(field, detail, len(value) - 1)
        elif detail == "max_name_length":
            setattr(field, detail, max(map(len, value)) - 1)
        else:
            setattr(field, detail, max(map(len, value.values())) - 1)
    return schema, payload


@pytest.mark.parametrize("base_name", BASES)
def test_the_full_payloads_are_valid_on_both_paths(base_name):
    payload = BASES[base_name]
    schema = schemas.SCHEMAS[payload["status"]]
    loaded = schema.load(payload)
    assert fastpath.compile_schema(schema)(payload) == loaded
    assert load_result(copy.deepcopy(payload), Limits()) == loaded


def test_the_full_payloads_carry_every_field_of_every_schema():
    # A field no base payload carries would escape the mutation test below.
    for status, schema in schemas.SCHEMAS.items():
        carried = {
            tuple(step for step in path if not isinstance(step, int))
            for name, base in BASES.items()
            if base["status"] == status
            for path, _, value in _fields(schema, base, ())
            if value is not MISSING
        }
        every = {
            tuple(step for step in path if not isinstance(step, int))
            for path, _, _ in _fields(schema, _everything(schema), ())
        }
        assert every - carried == set()


def _everything(schema: Schema) -> dict:
    """A skeleton holding every field of ``schema`` (values only good enough to walk)."""
    skeleton: dict[str, Any] = {}
    for name, field in schema.load_fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        value = _everything(inner.schema) if isinstance(inner, fields.Nested) else 0
        skeleton[name] = [value] if isinstance(field, fields.List) else value
    return skeleton


@pytest.mark.parametrize(("base_name", "path", "kind", "detail"), list(mutations()))
def test_every_constraint_has_a_fast_twin(monkeypatch, base_name, path, kind, detail):
    schema, payload = mutate(base_name, path, kind, detail)
    with pytest.raises(ValidationError):
        schema.load(payload)
    fast = fastpath.compile_schema(schema)
    assert fast(payload) is fastpath.REJECTED
    # And load_result, which consults the fast path first, refuses it with a 422.
    status = BASES[base_name]["status"]
    original = schemas.SCHEMAS[status]
    monkeypatch.setitem(schemas.SCHEMAS, status, schema)
    monkeypatch.setitem(schemas._FAST, status, fast)
    with pytest.raises(ApiError) as refused:
        load_result(payload, Limits())
    assert refused.value.status == 422
    # The app's own schema was not touched by the mutation.
    assert original.load(copy.deepcopy(BASES[base_name]))


def test_the_issue_examples_are_refused_on_both_paths(monkeypatch):
    # The two tightenings the review tried: at most 1 reproduction step, and a
    # description of at least 1 character.
    schema = fresh("completed")
    issue_fields = field_at(schema, ("issues", 0)).schema.fields
    issue_fields["reproductionSteps"].validators = [validate.Length(max=1)]
    issue_fields["description"].validators = [validate.Length(min=1, max=10000)]
    fast = fastpath.compile_schema(schema)
    monkeypatch.setitem(schemas.SCHEMAS, "completed", schema)
    monkeypatch.setitem(schemas._FAST, "completed", fast)
    for issue in (
        payloads.issue(1, reproductionSteps=["a", "b"]),
        payloads.issue(1, description=""),
    ):
        payload = payloads.completed(7, [issue])
        assert fast(payload) is fastpath.REJECTED
        with pytest.raises(ApiError):
            load_result(payload, Limits())


class _Unknown(Schema):
    class Meta:
        unknown = "exclude"

    email = fields.Email()


class _UnknownValidator(Schema):
    class Meta:
        unknown = "exclude"

    tags = fields.List(Text(), validate=validate.ContainsOnly(["a"]))


class _SchemaValidator(Schema):
    class Meta:
        unknown = "exclude"

    name = Text()

    @validates_schema
    def _check(self, data: dict, **kwargs: Any) -> None:
        pass


class _RangeOnText(Schema):
    class Meta:
        unknown = "exclude"

    name = Text(validate=validate.Range(min=1))


class _TwoLengths(Schema):
    class Meta:
        unknown = "exclude"

    name = Text(validate=[validate.Length(max=5), validate.Length(min=2)])


@pytest.mark.parametrize(
    "schema", [_Unknown, _UnknownValidator, _SchemaValidator, _RangeOnText, _TwoLengths]
)
def test_a_rule_without_a_fast_twin_fails_at_compile_time(schema):
    with pytest.raises(fastpath.NoFastTwin):
        fastpath.compile_schema(schema())


def schema_verdict(data: dict) -> dict | None:
    """What the full marshmallow path makes of ``data`` (None when it refuses it)."""
    if schemas._shape_errors(data):
        return None
    try:
        loaded = schemas.SCHEMAS["completed"].load(data)
    except ValidationError:
        return None
    return None if schemas.cross_field_errors(loaded) else loaded


def fast_verdict(data: dict) -> dict | None:
    """What the compiled fast path makes of ``data`` (None when it passes it on)."""
    if schemas._shape_errors(data):
        return None
    loaded = schemas._FAST["completed"](data)
    if loaded is fastpath.REJECTED or schemas.cross_field_errors(loaded):
        return None
    return loaded


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_both_paths_agree_on_mutated_payloads(data):
    body = json.loads(data.draw(mutated_payloads(7)))
    if not isinstance(body, dict):
        return
    body["status"] = "completed"
    assert fast_verdict(body) == schema_verdict(body)


@pytest.mark.parametrize(
    "payload",
    [
        payloads.completed(7, [payloads.issue(1, reproductionSteps=["a"], businessImpact="b")]),
        payloads.multi(7, pages=3, issues_per_page=2, counters={"riskScore": 5, "highCount": 1}),
        payloads.completed(7, []),
        BASES["single"],
        BASES["multi"],
    ],
    ids=["single", "multi", "no-issues", "full-single", "full-multi"],
)
def test_valid_payloads_take_the_fast_path_and_load_the_same(payload):
    fast = fast_verdict(payload)
    assert fast is not None
    assert fast == schema_verdict(payload)


def test_a_number_loads_as_a_float_on_both_paths():
    payload = payloads.multi(7, counters={"riskScore": 5})
    assert type(fast_verdict(payload)["counters"]["riskScore"]) is float
    assert type(schema_verdict(payload)["counters"]["riskScore"]) is float


@pytest.mark.parametrize("status", [[1], {"a": 1}, None, 3, "running"])
def test_a_status_of_any_other_kind_is_a_field_error(status):
    with pytest.raises(ApiError) as refused:
        load_result({"scanRunId": 7, "status": status}, Limits())
    assert refused.value.status == 422 and "status" in refused.value.fields
