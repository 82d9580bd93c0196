"""``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the schemas.

Each feature declares its operations next to its marshmallow schemas with
``operation(...)`` (the endpoint, its body, its answers, its parameters), as
``ingest/schemas.py`` and ``reports/schemas.py`` do. ``build_spec`` walks the app's URL
map, so paths and path parameters are the ones Flask serves, and refuses to build when
an ``/api/`` route has no declaration: a new endpoint cannot be served undocumented, and
the fuzz test, which covers whatever the document holds, covers it too.

Lengths, ranges, enums and patterns come from the schemas' validators (apispec reads
them), so the document, the schema and the fast path share one source of truth. The
field types add what their ``_deserialize`` enforces (``FIELD_SCHEMAS``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify
from marshmallow import Schema, fields
from werkzeug.routing import Rule

log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEMES = {
    "scannerSecret": {"type": "apiKey", "in": "header", "name": "X-Scanner-Secret"},
    "bearerToken": {"type": "http", "scheme": "bearer"},
}


class ErrorDetailSchema(Schema):
    """The ``error`` object of every error response."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ErrorResponseSchema(Schema):
    """Every API error."""

    error = fields.Nested(ErrorDetailSchema, required=True)


@dataclass(frozen=True)
class Answer:
    """A documented response: a JSON body (errors by default) and the headers it carries."""

    description: str
    schema: type[Schema] | dict[str, Any] | None = None
    headers: tuple[str, ...] = ()
    media_type: str = "application/json"  # e.g. application/sarif+json for an export


@dataclass(frozen=True)
class Discriminated:
    """A body that is one of several schemas, told apart by one property."""

    by: str
    choices: Mapping[str, type[Schema]]


@dataclass(frozen=True)
class Operation:
    """One documented operation, bound to a Flask endpoint and method."""

    endpoint: str
    method: str
    summary: str
    answers: Mapping[int, Answer | str]
    security: str | None = None
    body: type[Schema] | Discriminated | None = None
    body_required: bool = True
    parameters: tuple[dict[str, Any], ...] = ()
    description: str = ""
    # Adds what depends on the app's configuration (size limits) to the built document.
    configure: Callable[[dict[str, Any], Mapping[str, Any]], None] | None = field(
        default=None, compare=False
    )


# Headers answers refer to by name; every answer carries X-Request-Id.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "This request's id, also in the server's log.",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "RateLimit-Policy": {
        "description": 'The scanner quota, e.g. `"scanner";q=600;w=60` (IETF draft).',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of the quota, e.g. `"scanner";r=599;t=42`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Location": {"description": "Where the new resource is.", "schema": {"type": "string"}},
    "Allow": {"description": "The methods this path serves.", "schema": {"type": "string"}},
}

_OPERATIONS: dict[tuple[str, str], Operation] = {}


def operation(endpoint: str, method: str, summary: str, **details: Any) -> Operation:
    """Declare the documentation of ``method`` on ``endpoint`` (next to its schemas)."""
    declared = Operation(endpoint=endpoint, method=method.lower(), summary=summary, **details)
    _OPERATIONS[(endpoint, declared.method)] = declared
    return declared


class UndocumentedRoute(LookupError):
    """An ``/api/`` route that no ``operation(...)`` declares."""


def _field_properties(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """What a field type enforces beyond the validators apispec already reads."""
    json_schema = getattr(field, "json_schema", None)
    return json_schema() if json_schema is not None else {}


_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Flask rule and its path parameters."""
    parameters = []

    def parameter(match: re.Match) -> str:
        name = _camel(match["name"])
        integer = match["converter"] == "int"
        schema = {"type": "integer", "minimum": 0} if integer else {"type": "string"}
        parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
        return "{" + name + "}"

    return _ARGUMENT.sub(parameter, rule.rule), parameters


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answer(status: int, answer: Answer | str) -> dict[str, Any]:
    if isinstance(answer, str):
        answer = Answer(answer)
    documented: dict[str, Any] = {"description": answer.description}
    schema = answer.schema or (ErrorResponseSchema if status >= 400 else None)
    if schema is not None:
        documented["content"] = {answer.media_type: {"schema": schema}}
    documented["headers"] = {
        name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-Id", *answer.headers)
    }
    return documented


def schema_name(schema: type[Schema] | Schema) -> str:
    """A schema's component name: its ``OPENAPI_NAME``, or its class name less "Schema"."""
    cls = schema if isinstance(schema, type) else type(schema)
    # Its own, not inherited: a subclass is another schema.
    return cls.__dict__.get("OPENAPI_NAME") or cls.__name__.removesuffix("Schema")


def _body(spec: APISpec, body: type[Schema] | Discriminated, required: bool) -> dict[str, Any]:
    if not isinstance(body, Discriminated):
        return {"required": required, "content": _json(body)}
    refs = {}
    for value, schema in body.choices.items():
        name = schema_name(schema)
        if name not in spec.components.schemas:
            spec.components.schema(name, getattr(schema, "OPENAPI", None), schema=schema)
        refs[value] = f"#/components/schemas/{name}"
    return {
        "required": required,
        "content": _json(
            {
                "oneOf": [{"$ref": ref} for ref in refs.values()],
                "discriminator": {"propertyName": body.by, "mapping": refs},
            }
        ),
    }


def _operation(spec: APISpec, declared: Operation, path_parameters: list) -> dict[str, Any]:
    documented: dict[str, Any] = {
        "operationId": declared.endpoint,
        "summary": declared.summary,
        "parameters": [*path_parameters, *declared.parameters],
        "responses": {
            str(status): _answer(status, answer)
            for status, answer in sorted(declared.answers.items())
        },
    }
    if declared.description:
        documented["description"] = declared.description
    documented["security"] = [{declared.security: []}] if declared.security else []
    if declared.body is not None:
        documented["requestBody"] = _body(spec, declared.body, declared.body_required)
    return documented


def build_spec(app: Flask, *, strict: bool = False) -> dict[str, Any]:
    """Build the document of every declared operation ``app`` serves.

    An ``/api/`` route without a declaration raises ``UndocumentedRoute`` when
    ``strict`` (the tests), and is logged and left out otherwise (never a 500).
    """
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title="WebRiskOps API",
        version="1.0.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "Scanner results ingest and the customer read API. Every error has the "
                "body `ErrorResponse`. A method a path does not serve answers 405 with "
                "an `Allow` header."
            )
        },
    )
    plugin.converter.add_attribute_function(_field_properties)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    spec.components.schema("ErrorResponse", schema=ErrorResponseSchema)
    configure = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        path, path_parameters = _path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            declared = _OPERATIONS.get((rule.endpoint, method.lower()))
            if declared is None:
                if rule.rule.startswith("/api/"):
                    if strict:
                        raise UndocumentedRoute(f"{method} {rule.rule} ({rule.endpoint})")
                    log.warning("%s %s is not in the OpenAPI document", method, rule.rule)
                continue
            spec.path(
                path=path, operations={declared.method: _operation(spec, declared, path_parameters)}
            )
            if declared.configure is not None:
                configure.append(declared.configure)
    document = spec.to_dict()
    for apply in configure:
        apply(document, app.config)
    return document


operation(
    "openapi_json",
    "get",
    "This document",
    answers={200: Answer("The OpenAPI 3.1 document", {"type": "object"})},
)


def init_app(app: Flask) -> None:
    """Serve the document (built once per process, on first request)."""
    cache: dict[str, Any] = {}

    @app.get("/api/openapi.json")
    def openapi_json():
        if "spec" not in cache:
            cache["spec"] = build_spec(app)
        return jsonify(cache["spec"])
