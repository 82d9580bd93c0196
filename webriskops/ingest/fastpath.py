"""A fast acceptor compiled from the marshmallow schemas at import.

Marshmallow is the source of truth: its schemas define the rules, produce the field
errors and feed the OpenAPI document. Walking tens of thousands of issues through it
is, however, most of the cost of a large postback. ``compile_schema`` reads a schema's
fields and validators once and builds plain closures that check the same rules in one
walk: when everything is valid they return what the schema would have loaded, and
when anything is off they return ``REJECTED`` and the caller lets marshmallow produce
the exact errors.

Nothing is copied by hand: lengths, ranges, enums and patterns are read from the
schema's validators, and each field type's own rule (a storable string, an http URL, a
storage key) calls the very function its ``_deserialize`` calls. A field type or
validator the compiler does not know is an error at import, never a rule silently
skipped. ``tests/ingest/test_fastpath.py`` mutates every constraint and watches both
paths reject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import Schema, fields, missing, validate

from webriskops.ingest.fields import (
    ArtifactPath,
    HttpUrl,
    Pattern,
    ResponseHeaders,
    StrictInteger,
    StrictNumber,
    Text,
    holds_secret,
    is_artifact_path,
    is_http_url,
    refuse_secret,
)

REJECTED: Any = object()
"""What a check returns for a value the schema would refuse (``None`` is a value)."""

Check = Callable[[Any], Any]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]").search


class NoFastTwin(TypeError):
    """A schema uses a field type, option or validator the compiler cannot check."""


def compile_schema(schema: Schema) -> Check:
    """A check of a dict against ``schema``: the loaded dict, or ``REJECTED``."""
    if any(schema._hooks.values()):  # noqa: SLF001 - the only way to see @validates_schema
        raise NoFastTwin(f"{type(schema).__name__} has processors or schema validators")
    if schema.unknown != "exclude":
        raise NoFastTwin(f"{type(schema).__name__} must exclude unknown fields")
    plan = tuple(
        (name, field.required, compile_field(field, f"{type(schema).__name__}.{name}"))
        for name, field in schema.load_fields.items()
    )

    def check(value: Any) -> Any:
        if type(value) is not dict:
            return REJECTED
        loaded = {}
        for name, required, check_field in plan:
            if name in value:
                item = check_field(value[name])
                if item is REJECTED:
                    return REJECTED
                loaded[name] = item
            elif required:
                return REJECTED
        return loaded

    return check


def compile_field(field: fields.Field, where: str) -> Check:
    """A check of one value against ``field`` and its validators."""
    if field.data_key not in (None, field.name) or field.attribute not in (None, field.name):
        raise NoFastTwin(f"{where}: data_key and attribute are not supported")
    if field.allow_none or field.load_default is not missing:
        raise NoFastTwin(f"{where}: null values and load defaults are not supported")
    compiler = _COMPILERS.get(type(field))
    if compiler is None:
        raise NoFastTwin(f"{where}: no fast twin for field type {type(field).__name__}")
    return compiler(field, _Constraints.of(field.validators, where), where)


class _Constraints:
    """The validators of a field, folded into bounds, a choice set and a pattern."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None
        self.low_inclusive = self.high_inclusive = True
        self.min_length = 0
        self.max_length: int | None = None
        self.choices: frozenset | None = None
        self.match: Callable[[str], Any] | None = None
        self.kinds: set[str] = set()  # "range", "length", "choices", "pattern": each once

    @classmethod
    def of(cls, validators: list, where: str) -> _Constraints:
        folded = cls()
        for validator in validators:
            folded._add(validator, where)
        return folded

    def _add(self, validator: Any, where: str) -> None:
        if validator is refuse_secret:
            # Not checked value by value: ``holds_stored_secret`` scans every field stored
            # as sent in one pass once the walk has loaded them.
            self.kinds.add("secret")
            return
        kind = type(validator)
        name = _KINDS.get(kind)
        if name is None or name in self.kinds:
            raise NoFastTwin(f"{where}: no fast twin for validator {validator!r}")
        self.kinds.add(name)
        if kind is validate.Range:
            self.low, self.high = validator.min, validator.max
            self.low_inclusive, self.high_inclusive = (
                validator.min_inclusive,
                validator.max_inclusive,
            )
        elif kind is validate.Length:
            if validator.equal is not None:
                self.min_length = self.max_length = validator.equal
            else:
                self.min_length = validator.min or 0
                self.max_length = validator.max
        elif kind is validate.OneOf:
            self.choices = frozenset(validator.choices)
        elif kind is Pattern:
            self.match = validator.regex.fullmatch
        else:
            self.match = validator.regex.match  # what marshmallow's Regexp calls

    def allow(self, *kinds: str, where: str) -> None:
        """Refuse validators this field type does not take (a Range on a string)."""
        if self.kinds - set(kinds):
            raise NoFastTwin(f"{where}: {sorted(self.kinds - set(kinds))} on this field type")

    def in_range(self, where: str) -> Callable[[Any], bool]:
        """A test of a number against the folded Range."""
        self.allow("range", where=where)
        low = float("-inf") if self.low is None else self.low
        high = float("inf") if self.high is None else self.high
        if self.low_inclusive and self.high_inclusive:
            return lambda value: low <= value <= high
        above = (lambda v: v >= low) if self.low_inclusive else (lambda v: v > low)
        below = (lambda v: v <= high) if self.high_inclusive else (lambda v: v < high)
        return lambda value: above(value) and below(value)


def _storable(value: str) -> bool:
    # The same rule as fields.is_storable; str.isascii() is O(1), and an ASCII string
    # needs only the (memchr-fast) NUL test, not the regex.
    return "\x00" not in value if value.isascii() else _UNSTORABLE(value) is None


def _text(field: Text, rules: _Constraints, where: str) -> Check:
    rules.allow("length", "choices", "pattern", "secret", where=where)
    # The field type's own rule beyond "a storable string", from the same function.
    extra = {Text: None, HttpUrl: is_http_url, ArtifactPath: is_artifact_path}[type(field)]
    low = rules.min_length
    high = rules.max_length if rules.max_length is not None else float("inf")
    match = rules.match

    def valid(value: str) -> bool:
        return (
            low <= len(value) <= high
            and _storable(value)
            and (match is None or match(value) is not None)
            and (extra is None or extra(value))
        )

    # Specialised closures: this runs for every field of every issue.
    if rules.choices is not None:
        # Each choice is checked against the other rules once, here; a value then
        # needs only the set lookup.
        choices = frozenset(c for c in rules.choices if type(c) is str and valid(c))
        return lambda value: value if type(value) is str and value in choices else REJECTED
    if extra is None and match is None:

        def check(value: Any) -> Any:
            if type(value) is str and low <= len(value) <= high and _storable(value):
                return value
            return REJECTED

        return check
    return lambda value: value if type(value) is str and valid(value) else REJECTED


def _integer(field: StrictInteger, rules: _Constraints, where: str) -> Check:
    in_range = rules.in_range(where)

    def check(value: Any) -> Any:
        return value if type(value) is int and in_range(value) else REJECTED

    return check


def _number(field: StrictNumber, rules: _Constraints, where: str) -> Check:
    in_range = rules.in_range(where)

    def check(value: Any) -> Any:
        kind = type(value)
        return float(value) if (kind is int or kind is float) and in_range(value) else REJECTED

    return check


def _headers(field: ResponseHeaders, rules: _Constraints, where: str) -> Check:
    if field.validators:
        raise NoFastTwin(f"{where}: validators on response headers")
    entries, name_length, value_length = (
        field.max_entries,
        field.max_name_length,
        field.max_value_length,
    )

    def check(value: Any) -> Any:
        if type(value) is not dict or len(value) > entries:
            return REJECTED
        for name, text in value.items():
            if not (
                1 <= len(name) <= name_length
                and type(text) is str
                and len(text) <= value_length
                and _storable(name)
                and _storable(text)
            ):
                return REJECTED
        return value

    return check


def _list(field: fields.List, rules: _Constraints, where: str) -> Check:
    rules.allow("length", where=where)
    inner = compile_field(field.inner, f"{where}[]")
    low = rules.min_length
    high = rules.max_length if rules.max_length is not None else float("inf")

    def check(value: Any) -> Any:
        if type(value) is not list or not low <= len(value) <= high:
            return REJECTED
        loaded = []
        for item in value:
            item = inner(item)
            if item is REJECTED:
                return REJECTED
            loaded.append(item)
        return loaded

    return check


def _stored_as_sent(result: dict) -> Iterator[str]:
    """The values of fields stored as sent: issue type and fingerprint, artifact keys,
    response header names and ``error.code``."""
    if result["status"] == "failed":
        yield result["error"]["code"]
        return
    for entry in result.get("pages", [result]):
        yield from entry["page"]["responseHeaders"]
        yield from entry["artifacts"].values()
        for issue in entry["issues"]:
            yield issue["type"]
            yield issue["fingerprint"]
            if "screenshotPath" in issue:
                yield issue["screenshotPath"]


def holds_stored_secret(result: dict) -> bool:
    """Whether a loaded payload carries a secret in a field stored as sent.

    The schemas refuse it field by field (``refuse_secret``); here one redaction scan
    over all those values, one per line, keeps a clean payload's cost flat.
    """
    return holds_secret("\n".join(_stored_as_sent(result)))


def _nested(field: fields.Nested, rules: _Constraints, where: str) -> Check:
    if field.validators or field.many or field.only or field.exclude or field.unknown:
        raise NoFastTwin(f"{where}: only a plain Nested schema")
    return compile_schema(field.schema)


_KINDS = {
    validate.Range: "range",
    validate.Length: "length",
    validate.OneOf: "choices",
    Pattern: "pattern",
    validate.Regexp: "pattern",
}
_COMPILERS: dict[type, Callable[[Any, _Constraints, str], Check]] = {
    Text: _text,
    HttpUrl: _text,
    ArtifactPath: _text,
    StrictInteger: _integer,
    StrictNumber: _number,
    ResponseHeaders: _headers,
    fields.List: _list,
    fields.Nested: _nested,
}
