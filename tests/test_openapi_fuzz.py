"""Schemathesis fuzzes every operation of the OpenAPI document against the app.

Bounded (``BUDGET`` examples in all, shared by the operations) and seeded
(``derandomize``), so the run is the same each time and fits in the suite. Whatever
operations the document holds are covered: a new endpoint only has to be declared
with ``openapi.operation(...)``. Each request carries the scanner secret and a bearer
token of an organization that has a project and a queued run (ids 1), so
authenticated paths are reached; the checks are that nothing answers 5xx and that
every answer (status, content type, headers, body) is one the document declares.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import SCANNER_SECRET, make_config
from webriskops import create_app
from webriskops.auth.tokens import create_token
from webriskops.extensions import db
from webriskops.openapi import build_spec

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def credentials(app: Flask, make_project, make_run, make_user) -> dict[str, str]:
    """Headers of the scanner and of a member of the organization that owns run 1."""
    project = make_project()
    make_run(project)
    user = make_user(project.organization)
    token = create_token(user)
    db.session.commit()
    assert app.test_client().get("/api/openapi.json").get_json() == SPEC
    return {"X-Scanner-Secret": SCANNER_SECRET, "Authorization": f"Bearer {token}"}


# Loaded at collection (schemathesis's lazy fixture loader predates pytest 9), from an app
# that is only built, never connected; ``credentials`` checks the app under test serves
# this very document.
SPEC = build_spec(create_app(make_config()), strict=True)
# A budget for the whole run (about 1.5 minutes here), shared by however many
# operations the document holds, with a floor per operation.
BUDGET = 300
MAX_EXAMPLES = max(20, BUDGET // sum(len(operations) for operations in SPEC["paths"].values()))
schema = schemathesis.openapi.from_dict(SPEC)
schema.config.generation.update(
    modes=["positive", "negative"],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    # The real credentials are sent on every request (see ``credentials``).
    with_security_parameters=False,
)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, app, credentials):
    case.call_and_validate(headers=credentials, checks=CHECKS, app=app)
