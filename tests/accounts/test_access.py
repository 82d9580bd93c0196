"""Who may use which settings form: CSRF on every form, owners only, one's own organization only.

The route inventory is checked against the app's URL map, so a new settings form
cannot be added without being listed (and so tested) here.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from webriskops.extensions import db
from webriskops.models import ApiToken, Invitation, Membership, grant_credits
from webriskops.models.base import utcnow
from webriskops.models.webhooks import WebhookDelivery, WebhookEndpoint
from webriskops.webhooks.signing import generate_secret

# Every POST of the accounts blueprint with the fields a valid submission carries.
FORMS = {
    "/settings/tokens": {"name": "ci", "expires": ""},
    "/settings/tokens/<int:token_id>/revoke": {},
    "/settings/members": {"email": "new@acme.test", "role": "member"},
    "/settings/members/<int:membership_id>/role": {"role": "owner"},
    "/settings/members/<int:membership_id>/remove": {},
    "/settings/invitations/<int:invitation_id>/revoke": {},
    "/invitations/<token>": {"password": "long enough pw", "confirm": "long enough pw"},
    "/settings/webhooks": {"url": "https://hooks.example.com/a"},
    "/settings/webhooks/<int:endpoint_id>/disable": {},
    "/settings/webhooks/<int:endpoint_id>/enable": {},
    "/settings/webhooks/<int:endpoint_id>/rotate": {},
    "/settings/webhooks/deliveries/<int:delivery_id>/redeliver": {},
    "/projects/new": {"name": "Blog", "baseUrl": "https://blog.example.com"},
}
# Pages and forms only an owner may use (GET pages and POST forms).
OWNER_ONLY = [
    ("GET", "/settings/members?org={org}"),
    ("POST", "/settings/members?org={org}"),
    ("POST", "/settings/members/{membership}/role"),
    ("POST", "/settings/members/{membership}/remove"),
    ("POST", "/settings/invitations/{invitation}/revoke?org={org}"),
    ("GET", "/settings/webhooks?org={org}"),
    ("POST", "/settings/webhooks?org={org}"),
    ("GET", "/settings/webhooks/{endpoint}"),
    ("POST", "/settings/webhooks/{endpoint}/disable"),
    ("POST", "/settings/webhooks/{endpoint}/enable"),
    ("POST", "/settings/webhooks/{endpoint}/rotate"),
    ("POST", "/settings/webhooks/deliveries/{delivery}/redeliver"),
    ("GET", "/projects/new?org={org}"),
    ("POST", "/projects/new?org={org}"),
]
# Things of organization A (and the owner's own token) that an outsider must not reach.
OTHER_ORGANIZATION = [
    *OWNER_ONLY,
    ("GET", "/settings/credits?org={org}"),
    ("POST", "/settings/tokens/{token}/revoke"),
]


@pytest.fixture
def things(team, make_run):
    """One of each administrable thing in organization A."""
    grant_credits(team.org, 1)
    db.session.commit()
    run = make_run(team.project)
    endpoint = WebhookEndpoint(
        organization_id=team.org.id, url="https://hooks.example.com/a", secret=generate_secret()
    )
    db.session.add(endpoint)
    db.session.flush()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        scan_run_id=run.id,
        event_type="scan_run.completed",
        message_id="msg_fixture",
        payload="{}",
        status="failed",
        attempts=1,
    )
    token = ApiToken(user_id=team.owner.id, token_hash="0" * 64, prefix="wro_fixtur")
    invitation = Invitation(
        organization_id=team.org.id,
        email="pending@acme.test",
        role="member",
        token_hash="1" * 64,
        invited_by_id=team.owner.id,
        expires_at=utcnow() + timedelta(days=7),
    )
    db.session.add_all([delivery, token, invitation])
    db.session.commit()
    membership = db.session.query(Membership).filter_by(user_id=team.owner.id).one()
    return {
        "org": team.org.id,
        "membership": membership.id,
        "invitation": invitation.id,
        "endpoint": endpoint.id,
        "delivery": delivery.id,
        "token": token.id,
    }


def test_every_settings_form_is_listed(app):
    posts = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and rule.endpoint.startswith("accounts.")
    }
    assert posts == set(FORMS)


@pytest.mark.parametrize("with_bad_token", [False, True])
@pytest.mark.parametrize("rule", list(FORMS))
def test_every_settings_form_requires_csrf(team, things, login, rule, with_bad_token):
    client = login(team.owner.email)
    url = re.sub(r"<int:([a-z_]+)>", lambda m: str(things[m.group(1).split("_")[0]]), rule)
    url = url.replace("<token>", "whatever")
    data = dict(FORMS[rule])
    if with_bad_token:
        data["csrf_token"] = "forged"
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "This form has expired" in response.text
    # Nothing changed: the owner is still an owner, the endpoint still active, no new rows.
    db.session.expire_all()
    assert db.session.get(Membership, things["membership"]).role == "owner"
    assert db.session.get(WebhookEndpoint, things["endpoint"]).active is True
    assert db.session.query(ApiToken).count() == 1


@pytest.mark.parametrize(("method", "template"), OWNER_ONLY)
def test_members_get_403_on_owner_pages_and_forms(team, things, login, method, template):
    client = login(team.member.email)
    url = template.format(**things)
    if method == "GET":
        response = client.get(url)
    else:
        data = {**_fields_for(url), "csrf_token": client.csrf_token("/settings/tokens")}
        response = client.post(url, data=data)
    assert response.status_code == 403, response.text
    assert "Only an owner" in response.text
    db.session.expire_all()
    assert db.session.get(Membership, things["membership"]).role == "owner"
    assert db.session.get(WebhookEndpoint, things["endpoint"]).active is True


@pytest.mark.parametrize(("method", "template"), OTHER_ORGANIZATION)
def test_another_organizations_things_are_404(team, things, login, method, template):
    # The outsider is an owner, but of organization B.
    client = login(team.outsider.email)
    url = template.format(**things)
    if method == "GET":
        response = client.get(url)
    else:
        data = {**_fields_for(url), "csrf_token": client.csrf_token("/settings/tokens")}
        response = client.post(url, data=data)
    assert response.status_code == 404, response.text
    db.session.expire_all()
    assert db.session.get(Membership, things["membership"]).role == "owner"
    assert db.session.get(ApiToken, things["token"]).revoked_at is None
    assert db.session.get(Invitation, things["invitation"]).revoked_at is None


@pytest.mark.parametrize("path", ["/settings/tokens", "/settings/members", "/projects/new"])
def test_settings_need_a_session(web, path):
    response = web().get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("org", ["abc", "0", "99999999999999999999", "-1"])
def test_a_bad_or_unknown_org_argument_is_404(team, login, org):
    assert login(team.owner.email).get(f"/settings/members?org={org}").status_code == 404


def _fields_for(url: str) -> dict[str, str]:
    path = url.split("?")[0]
    for rule, fields in FORMS.items():
        if re.fullmatch(re.sub(r"<int:[a-z_]+>", "[0-9]+", rule), path):
            return fields
    raise AssertionError(f"no form for {url}")
