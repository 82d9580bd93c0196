"""The operator CLI of section 5: each command prints one JSON object."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from tests import payloads
from webriskops.auth.tokens import hash_token
from webriskops.extensions import db
from webriskops.models import ApiToken, Membership, User


def run_json(runner, *args: str, input: str | None = None) -> dict:
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return orjson.loads(lines[0])


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_operator_walkthrough(runner, client, scanner_headers):
    org = run_json(runner, "orgs", "create", "Acme", "--credits", "3")
    org_id = org["organizationId"]
    assert run_json(runner, "orgs", "show", str(org_id)) == {
        "organizationId": org_id,
        "name": "Acme",
        "credits": 3,
        "reservedCredits": 0,
    }
    project_id = run_json(
        runner, "projects", "create", str(org_id), "Shop", "--base-url", "https://shop.example.com"
    )["projectId"]
    user = run_json(
        runner, "users", "create", "Owner@Example.com", "--org", str(org_id), "--role", "owner",
        "--password-stdin", input="a long password\n",
    )  # fmt: skip
    stored = db.session.get(User, user["userId"])
    assert stored.email == "owner@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert db.session.scalars(select(Membership.role)).one() == "owner"

    token = run_json(runner, "tokens", "create", "owner@example.com")["token"]
    assert db.session.scalars(select(ApiToken.token_hash)).one() == hash_token(token)
    assert token not in str(db.session.scalars(select(ApiToken.token_hash)).all())

    created = run_json(runner, "scan-runs", "create", str(project_id))
    assert created["status"] == "queued"
    run_id = created["scanRunId"]
    assert run_json(runner, "orgs", "show", str(org_id))["reservedCredits"] == 1

    shown = run_json(runner, "scan-runs", "show", str(run_id))
    assert (shown["status"], shown["credit"]) == ("queued", "reserved")

    response = client.post(
        "/api/scanner/results",
        data=orjson.dumps(payloads.completed(run_id)),
        headers=scanner_headers,
    )
    assert response.status_code == 202
    shown = run_json(runner, "scan-runs", "show", str(run_id))
    assert (shown["status"], shown["credit"]) == ("completed", "consumed")
    api = client.get(f"/api/scan-runs/{run_id}", headers={"Authorization": f"Bearer {token}"})
    assert {k: v for k, v in shown.items() if k != "credit"} == api.get_json()

    failed_run = run_json(runner, "scan-runs", "create", str(project_id))["scanRunId"]
    client.post(
        "/api/scanner/results",
        data=orjson.dumps(payloads.failed(failed_run)),
        headers=scanner_headers,
    )
    assert run_json(runner, "scan-runs", "show", str(failed_run))["credit"] == "restored"
    assert run_json(runner, "orgs", "show", str(org_id))["credits"] == 2


def test_scan_run_without_credits_fails_clearly(runner):
    org_id = run_json(runner, "orgs", "create", "Broke", "--credits", "0")["organizationId"]
    project_id = run_json(
        runner, "projects", "create", str(org_id), "P", "--base-url", "https://example.com"
    )["projectId"]
    result = runner.invoke(args=["scan-runs", "create", str(project_id)])
    assert result.exit_code == 1
    assert "INSUFFICIENT_CREDITS" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["orgs", "show", "999"],
        ["projects", "create", "999", "X", "--base-url", "https://example.com"],
        ["tokens", "create", "nobody@example.com"],
        ["scan-runs", "show", "999"],
        ["scan-runs", "create", "999"],
    ],
)
def test_missing_objects_exit_non_zero(runner, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "not found" in result.stderr


def test_bad_base_url_is_refused(runner):
    org_id = run_json(runner, "orgs", "create", "A")["organizationId"]
    result = runner.invoke(args=["projects", "create", str(org_id), "X", "--base-url", "ftp://x"])
    assert result.exit_code == 1


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_demo_creates_a_completed_scan_once(runner):
    first = run_json(runner, "demo")
    assert first["login"]["email"] and first["login"]["password"]
    shown = run_json(runner, "scan-runs", "show", str(first["scanRunId"]))
    assert shown["status"] == "completed"
    assert shown["reportStatus"] == "ready"
    assert shown["issues"]
    assert run_json(runner, "demo") == first


def test_jobs_sweep_reports_a_count(runner):
    assert run_json(runner, "jobs", "sweep") == {"enqueued": 0}
