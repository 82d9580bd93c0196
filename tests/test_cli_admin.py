"""The operator CLI refuses mistakes (existing users, blank names, duplicate webhooks) and
lists, revokes and disables: each command still prints exactly one JSON object."""

from __future__ import annotations

import orjson
import pytest

from tests.test_cli import run_json
from webriskops.extensions import db
from webriskops.models import ApiToken, Membership, User
from webriskops.models.webhooks import WebhookDelivery, WebhookEndpoint


def refused(runner, *args: str, input: str | None = None) -> dict:
    """Run a command that must fail: exit 1, nothing on stdout, a JSON error on stderr."""
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    return orjson.loads(result.stderr)


@pytest.fixture
def org_id(runner) -> int:
    return run_json(runner, "orgs", "create", "Acme", "--credits", "2")["organizationId"]


def test_users_create_refuses_an_existing_user(runner, org_id):
    first = run_json(
        runner, "users", "create", "a@acme.test", "--org", str(org_id), "--role", "owner",
        "--password-stdin", input="first password\n",
    )  # fmt: skip
    assert first == {"userId": first["userId"], "membership": "created", "role": "owner"}
    hash_before = db.session.get(User, first["userId"]).password_hash
    error = refused(
        runner, "users", "create", "A@acme.test", "--org", str(org_id), "--role", "member",
        "--password-stdin", input="second password\n",
    )  # fmt: skip
    assert "already exists" in error["error"] and "--reset-password" in error["error"]
    db.session.expire_all()
    assert db.session.get(User, first["userId"]).password_hash == hash_before
    assert db.session.query(Membership).one().role == "owner"


def test_reset_password_says_what_changed(runner, org_id):
    user_id = run_json(
        runner, "users", "create", "a@acme.test", "--org", str(org_id), "--role", "owner"
    )["userId"]
    run_json(runner, "users", "create", "b@acme.test", "--org", str(org_id), "--role", "owner")
    shown = run_json(
        runner, "users", "create", "a@acme.test", "--org", str(org_id), "--role", "member",
        "--reset-password", "--password-stdin", input="a new password\n",
    )  # fmt: skip
    assert shown == {
        "userId": user_id,
        "passwordReset": True,
        "roleChanged": {"from": "owner", "to": "member"},
        "membership": "updated",
        "role": "member",
    }
    # Without a password on stdin, --reset-password has nothing to set.
    assert (
        "--password-stdin"
        in refused(
            runner, "users", "create", "a@acme.test", "--org", str(org_id), "--reset-password"
        )["error"]
    )


def test_the_last_owner_cannot_be_demoted_from_the_cli(runner, org_id):
    run_json(runner, "users", "create", "a@acme.test", "--org", str(org_id), "--role", "owner")
    error = refused(
        runner, "users", "create", "a@acme.test", "--org", str(org_id), "--role", "member",
        "--reset-password", "--password-stdin", input="a new password\n",
    )  # fmt: skip
    assert "last owner" in error["error"]


@pytest.mark.parametrize("name", ["", "   "])
def test_blank_names_are_refused(runner, org_id, name):
    assert "blank" in refused(runner, "orgs", "create", name)["error"]
    assert (
        "blank"
        in refused(
            runner, "projects", "create", str(org_id), name, "--base-url", "https://example.com"
        )["error"]
    )


def test_list_commands(runner, org_id):
    other = run_json(runner, "orgs", "create", "Other")["organizationId"]
    project = run_json(
        runner, "projects", "create", str(org_id), "Shop", "--base-url", "https://shop.example"
    )["projectId"]
    user = run_json(runner, "users", "create", "a@acme.test", "--org", str(org_id))["userId"]
    assert run_json(runner, "orgs", "list") == {
        "organizations": [
            {"organizationId": org_id, "name": "Acme", "credits": 2, "reservedCredits": 0},
            {"organizationId": other, "name": "Other", "credits": 0, "reservedCredits": 0},
        ]
    }
    expected_project = {
        "projectId": project,
        "organizationId": org_id,
        "name": "Shop",
        "baseUrl": "https://shop.example",
    }
    assert run_json(runner, "projects", "list") == {"projects": [expected_project]}
    assert run_json(runner, "projects", "list", "--org", str(other)) == {"projects": []}
    assert run_json(runner, "users", "list", "--org", str(org_id)) == {
        "users": [
            {
                "userId": user,
                "email": "a@acme.test",
                "hasPassword": False,
                "memberships": [{"organizationId": org_id, "role": "member"}],
            }
        ]
    }
    assert run_json(runner, "users", "list", "--org", str(other)) == {"users": []}


def test_tokens_list_and_revoke(runner, client, org_id):
    run_json(runner, "users", "create", "a@acme.test", "--org", str(org_id))
    created = run_json(
        runner, "tokens", "create", "a@acme.test", "--name", "ci", "--expires-in-days", "30"
    )
    token, token_id = created["token"], created["tokenId"]
    assert created["expiresAt"]
    listed = run_json(runner, "tokens", "list", "a@acme.test")["tokens"]
    assert [(t["tokenId"], t["name"], t["active"]) for t in listed] == [(token_id, "ci", True)]
    assert token not in orjson.dumps(listed).decode()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/projects/999/scan-runs", headers=headers).status_code == 404
    assert run_json(runner, "tokens", "revoke", str(token_id)) == {
        "tokenId": token_id,
        "revoked": True,
        "alreadyRevoked": False,
    }
    assert client.get("/api/projects/999/scan-runs", headers=headers).status_code == 401
    assert run_json(runner, "tokens", "revoke", str(token_id))["alreadyRevoked"] is True
    assert run_json(runner, "tokens", "list", "a@acme.test")["tokens"][0]["active"] is False
    assert "not found" in refused(runner, "tokens", "revoke", "999")["error"]
    assert db.session.query(ApiToken).count() == 1


def test_webhooks_refuse_duplicates_and_disable_enable(runner, org_id, make_run):
    first = run_json(runner, "webhooks", "add", str(org_id), "https://hooks.example.com/a")
    error = refused(runner, "webhooks", "add", str(org_id), "https://hooks.example.com/a")
    assert "already has an endpoint" in error["error"]
    webhook_id = first["webhookId"]
    assert run_json(runner, "webhooks", "disable", str(webhook_id)) == {
        "webhookId": webhook_id,
        "active": False,
        "changed": True,
    }
    assert run_json(runner, "webhooks", "list", str(org_id))["webhooks"][0]["active"] is False
    assert run_json(runner, "webhooks", "enable", str(webhook_id))["active"] is True
    assert db.session.get(WebhookEndpoint, webhook_id).active is True


def test_webhooks_deliveries_keeps_ids_apart(runner, org_id, make_project, make_run):
    from webriskops.models import Organization

    project = make_project(db.session.get(Organization, org_id))
    run = make_run(project)
    webhook_id = run_json(runner, "webhooks", "add", str(org_id), "https://hooks.example.com/a")[
        "webhookId"
    ]
    db.session.add(
        WebhookDelivery(
            endpoint_id=webhook_id,
            scan_run_id=run.id,
            event_type="scan_run.completed",
            message_id="msg_abc",
            payload="{}",
            status="pending",
            attempts=0,
        )
    )
    db.session.commit()
    (delivery,) = run_json(runner, "webhooks", "deliveries", str(webhook_id))["deliveries"]
    assert delivery["webhookId"] == webhook_id
    assert delivery["messageId"] == "msg_abc"
    assert isinstance(delivery["deliveryId"], int)
