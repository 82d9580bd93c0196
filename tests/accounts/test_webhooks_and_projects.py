"""Webhook endpoints from the browser (add, SSRF guard, duplicates, disable/enable, rotate,
delivery log, redeliver) and project creation."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.webhooks.conftest import receiver  # noqa: F401
from webriskops.extensions import db
from webriskops.models import Project
from webriskops.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webriskops.webhooks import signing

_SECRET = re.compile(r'id="new-secret-value">(whsec_[^<]+)<')


def _post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": client.csrf_token("/settings/tokens")})


def add(client, org_id: int, url: str):
    """Post the add-endpoint form."""
    return _post(client, f"/settings/webhooks?org={org_id}", url=url)


def test_add_shows_the_secret_once(team, login):
    owner = login(team.owner.email)
    response = add(owner, team.org.id, "https://hooks.example.com/in")
    assert response.status_code == 201, response.text
    secret = _SECRET.search(response.text).group(1)
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert endpoint.secret == secret and endpoint.organization_id == team.org.id
    assert secret not in owner.get(f"/settings/webhooks?org={team.org.id}").text


def test_private_addresses_and_duplicates_are_refused(team, login):
    owner = login(team.owner.email)
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "ftp://example.com/", "x"):
        response = add(owner, team.org.id, url)
        assert response.status_code == 400, url
        assert "cannot be used" in response.text
    assert add(owner, team.org.id, "https://hooks.example.com/in").status_code == 201
    duplicate = add(owner, team.org.id, " https://hooks.example.com/in ")
    assert duplicate.status_code == 400
    assert "already has an endpoint" in duplicate.text
    assert db.session.scalars(select(WebhookEndpoint)).all().__len__() == 1
    # The same URL in another organization is a different endpoint.
    assert add(login(team.outsider.email), team.other_org.id, "https://hooks.example.com/in")


def test_disable_enable_and_rotate(team, login):
    owner = login(team.owner.email)
    add(owner, team.org.id, "https://hooks.example.com/in")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    old_secret = endpoint.secret
    assert _post(owner, f"/settings/webhooks/{endpoint.id}/disable").status_code == 302
    db.session.expire_all()
    assert endpoint.active is False and endpoint.disabled_reason.startswith("disabled by")
    assert "Disabled" in owner.get(f"/settings/webhooks?org={team.org.id}").text
    assert _post(owner, f"/settings/webhooks/{endpoint.id}/enable").status_code == 302
    db.session.expire_all()
    assert endpoint.active is True and endpoint.disabled_at is None
    rotated = _post(owner, f"/settings/webhooks/{endpoint.id}/rotate")
    assert rotated.status_code == 200
    new_secret = _SECRET.search(rotated.text).group(1)
    db.session.expire_all()
    assert endpoint.secret == new_secret != old_secret


def test_delivery_log_and_redelivery_with_the_same_webhook_id(
    app,
    tenants,
    login,
    receiver,  # noqa: F811
):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    owner = login(tenants.owner.email)
    add(owner, tenants.org.id, receiver.url)
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        scan_run_id=tenants.run.id,
        event_type="scan_run.completed",
        message_id="msg_redeliver_me",
        payload='{"type":"scan_run.completed"}',
        status="failed",
        attempts=1,
    )
    db.session.add(delivery)
    db.session.flush()
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id, number=1, status_code=500, outcome="failed", error=None
        )
    )
    db.session.commit()
    page = owner.get(f"/settings/webhooks/{endpoint.id}").text
    assert "msg_redeliver_me" in page and "HTTP 500" in page

    response = _post(owner, f"/settings/webhooks/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 302
    # Without Redis the outbox runs the attempt right after the commit.
    (received,) = receiver.requests[-1:]
    assert received.headers["webhook-id"] == "msg_redeliver_me"
    signing.verify(endpoint.secret, received.headers, received.body)
    db.session.expire_all()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    page = owner.get(f"/settings/webhooks/{endpoint.id}").text
    assert "#2" in page and "HTTP 200" in page


def test_a_delivery_in_progress_is_not_redelivered(tenants, login):
    owner = login(tenants.owner.email)
    add(owner, tenants.org.id, "https://hooks.example.com/in")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        scan_run_id=tenants.run.id,
        event_type="scan_run.completed",
        message_id="msg_pending",
        payload="{}",
        status="pending",
        attempts=1,
    )
    db.session.add(delivery)
    db.session.commit()
    response = _post(owner, f"/settings/webhooks/deliveries/{delivery.id}/redeliver")
    assert "still being attempted" in owner.get(response.headers["Location"]).text
    db.session.expire_all()
    assert delivery.attempts == 1


def test_owner_creates_a_project(team, login):
    owner = login(team.owner.email)
    response = _post(
        owner, f"/projects/new?org={team.org.id}", name=" Blog ", baseUrl="https://blog.example.com"
    )
    assert response.status_code == 302
    project = db.session.scalars(select(Project).where(Project.name == "Blog")).one()
    assert project.organization_id == team.org.id and project.base_url == "https://blog.example.com"
    assert response.headers["Location"].endswith(f"/projects/{project.id}")


def test_project_form_refuses_blank_names_and_bad_urls(team, login):
    owner = login(team.owner.email)
    for name, url in (
        ("  ", "https://blog.example.com"),
        ("Blog", ""),
        ("Blog", "blog.example.com"),
        ("Blog", "javascript:alert(1)"),
        ("Blog", "ftp://blog.example.com"),
        ("Bl\x00og", "https://blog.example.com"),
    ):
        response = _post(owner, f"/projects/new?org={team.org.id}", name=name, baseUrl=url)
        assert response.status_code == 400, (name, url)
    assert db.session.scalars(select(Project).where(Project.name != "Acme shop")).first() is None


def test_the_zero_credit_banner_links_to_the_credits_page(team, login):
    member = login(team.member.email)
    page = member.get(f"/projects/{team.project.id}").text
    assert f'href="/settings/credits?org={team.org.id}"' in page
    credits = member.get(f"/settings/credits?org={team.org.id}")
    assert credits.status_code == 200 and "Adding credits" in credits.text
