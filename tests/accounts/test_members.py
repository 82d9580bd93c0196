"""Members and invitations: invite (shown or emailed), accept once before expiry, roles, removal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.jobs.test_failure_automation import SMTP_PASSWORD, smtp_server  # noqa: F401
from tests.reports.conftest import PASSWORD
from webriskops.extensions import db
from webriskops.models import Invitation, Membership, User
from webriskops.models.base import utcnow

_LINK = re.compile(r'id="invitation-link-value">(http://[^<]+/invitations/([^<]+))<')


@pytest.fixture
def app_overrides(request: pytest.FixtureRequest) -> dict:
    """SMTP only for the test that asks for the fake server."""
    if "smtp_server" not in request.fixturenames:
        return {}
    port = request.getfixturevalue("smtp_server").server_address[1]
    return {"SMTP_URL": f"smtp://alerts%40acme.test:{SMTP_PASSWORD}@127.0.0.1:{port}/"}


def invite(client, org_id: int, email: str, role: str = "member"):
    """Post the invitation form."""
    return client.post(
        f"/settings/members?org={org_id}",
        data={"email": email, "role": role, "csrf_token": client.csrf_token("/settings/tokens")},
    )


def invitation_link(client, org_id: int, email: str, role: str = "member") -> tuple[str, str]:
    """Invite someone without SMTP; returns the link shown to the owner and its token."""
    response = invite(client, org_id, email, role)
    assert response.status_code == 201, response.text
    match = _LINK.search(response.text)
    assert match, "without SMTP the link is shown to the owner"
    return match.group(1), match.group(2)


def accept(web, token: str, password: str = "a new password"):
    """The invitee opens the link and sets a password; returns their client and the answer."""
    client = web()
    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page.text).group(1)
    response = client.post(
        f"/invitations/{token}",
        data={"password": password, "confirm": password, "csrf_token": csrf},
    )
    return client, response


def test_invitee_sets_a_password_joins_and_is_logged_in(team, login, web):
    owner = login(team.owner.email)
    link, token = invitation_link(owner, team.org.id, "New.Person@acme.test", "member")
    assert link.startswith("http://localhost/invitations/")
    invitation = db.session.scalars(select(Invitation)).one()
    assert token not in invitation.token_hash and invitation.email == "new.person@acme.test"
    assert "new.person@acme.test" in owner.get(f"/settings/members?org={team.org.id}").text

    client, response = accept(web, token)
    assert response.status_code == 302
    assert "Acme shop" in client.get("/projects").text  # logged in, member of Acme
    user = db.session.scalars(select(User).where(User.email == "new.person@acme.test")).one()
    membership = db.session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
    assert membership.role == "member" and membership.organization_id == team.org.id
    # And the password works for a normal login.
    assert login("new.person@acme.test", "a new password").get("/projects").status_code == 200


def test_an_invitation_works_once(team, login, web):
    _, token = invitation_link(login(team.owner.email), team.org.id, "once@acme.test")
    # A second tab opened the form before the first one was sent.
    late = web()
    form = late.get(f"/invitations/{token}").text
    csrf = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', form).group(1)
    accept(web, token, "the first password")
    second = web().get(f"/invitations/{token}")
    assert second.status_code == 404
    assert "already used" in second.text
    replay = late.post(
        f"/invitations/{token}",
        data={"password": "a second password", "confirm": "a second password", "csrf_token": csrf},
    )
    assert replay.status_code == 404
    assert login("once@acme.test", "the first password").get("/projects").status_code == 200


def test_an_expired_invitation_is_refused(team, login, web):
    _, token = invitation_link(login(team.owner.email), team.org.id, "late@acme.test")
    invitation = db.session.scalars(select(Invitation)).one()
    assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert web().get(f"/invitations/{token}").status_code == 404
    assert db.session.scalar(select(User.id).where(User.email == "late@acme.test")) is None


def test_inviting_again_replaces_the_earlier_link_and_withdrawing_kills_it(team, login, web):
    owner = login(team.owner.email)
    _, first = invitation_link(owner, team.org.id, "twice@acme.test")
    _, second = invitation_link(owner, team.org.id, "twice@acme.test")
    assert web().get(f"/invitations/{first}").status_code == 404
    assert web().get(f"/invitations/{second}").status_code == 200
    pending = db.session.scalars(select(Invitation).where(Invitation.revoked_at.is_(None))).one()
    response = owner.post(
        f"/settings/invitations/{pending.id}/revoke?org={team.org.id}",
        data={"csrf_token": owner.csrf_token("/settings/tokens")},
    )
    assert response.status_code == 302
    assert web().get(f"/invitations/{second}").status_code == 404


def test_an_existing_member_cannot_be_invited(team, login):
    response = invite(login(team.owner.email), team.org.id, team.member.email)
    assert response.status_code == 400
    assert "already a member" in response.text


def test_an_existing_account_joins_with_its_own_password(team, login, web):
    _, token = invitation_link(login(team.owner.email), team.org.id, team.outsider.email, "owner")
    # A wrong password is refused and the invitation stays usable.
    _, refused = accept(web, token, "not the password")
    assert refused.status_code == 400 and "not the password" in refused.text
    client, response = accept(web, token, PASSWORD)
    assert response.status_code == 302
    projects = client.get("/projects").text
    assert "Acme shop" in projects and "Other" in projects


def test_invitation_is_emailed_through_smtp(team, login, smtp_server, web):  # noqa: F811
    response = invite(login(team.owner.email), team.org.id, "mailed@acme.test", "owner")
    assert response.status_code == 201
    assert "on its way to mailed@acme.test" in response.text
    (message,) = smtp_server.messages
    assert message["to"] == ["mailed@acme.test"]
    body = message["message"].get_payload(decode=True).decode()
    token = re.search(r"/invitations/([A-Za-z0-9_-]+)", body).group(1)
    assert token not in response.text, "with SMTP the link goes only to the invitee"
    assert 'id="invitation-link"' not in response.text
    client, answer = accept(web, token)
    assert answer.status_code == 302
    user = db.session.scalars(select(User).where(User.email == "mailed@acme.test")).one()
    assert (
        db.session.scalars(select(Membership.role).where(Membership.user_id == user.id)).one()
        == "owner"
    )


def _membership(user) -> Membership:
    return db.session.scalars(select(Membership).where(Membership.user_id == user.id)).one()


def _post(client, url: str, **data):
    return client.post(url, data={**data, "csrf_token": client.csrf_token("/settings/tokens")})


def test_roles_change_and_the_last_owner_stays(team, login):
    owner = login(team.owner.email)
    mine, theirs = _membership(team.owner), _membership(team.member)
    # The only owner can neither be demoted nor removed.
    response = _post(owner, f"/settings/members/{mine.id}/role", role="member")
    assert response.status_code == 302
    assert "at least one owner" in owner.get(response.headers["Location"]).text
    assert _post(owner, f"/settings/members/{mine.id}/remove").status_code == 302
    db.session.expire_all()
    assert db.session.get(Membership, mine.id).role == "owner"
    # Promote the member; now the first owner may step down.
    _post(owner, f"/settings/members/{theirs.id}/role", role="owner")
    db.session.expire_all()
    assert db.session.get(Membership, theirs.id).role == "owner"
    stepped_down = _post(owner, f"/settings/members/{mine.id}/role", role="member")
    assert stepped_down.headers["Location"].endswith("/settings/tokens")
    db.session.expire_all()
    assert db.session.get(Membership, mine.id).role == "member"
    # And is no longer allowed on owner pages.
    assert owner.get(f"/settings/members?org={team.org.id}").status_code == 403


def test_a_bad_role_is_refused(team, login):
    owner = login(team.owner.email)
    response = _post(owner, f"/settings/members/{_membership(team.member).id}/role", role="admin")
    assert response.status_code == 400
    db.session.expire_all()
    assert _membership(team.member).role == "member"


def test_a_removed_member_loses_access_at_once(app, team, login):
    from webriskops.auth.tokens import create_token

    member = login(team.member.email)
    token = create_token(team.member)
    db.session.commit()
    project_url = f"/projects/{team.project.id}"
    assert member.get(project_url).status_code == 200
    owner = login(team.owner.email)
    response = _post(owner, f"/settings/members/{_membership(team.member).id}/remove")
    assert response.status_code == 302
    assert (
        db.session.scalars(select(Membership).where(Membership.user_id == team.member.id)).first()
        is None
    )
    # Their open session ends on the server side, and their API token sees nothing of
    # the organization any more.
    ended = member.get(project_url)
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]
    with app.app_context():
        api = app.test_client().get(
            f"/api/projects/{team.project.id}/scan-runs",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert api.status_code == 404


def test_the_last_owner_rule_holds_when_removing_oneself_with_another_owner(team, login):
    owner = login(team.owner.email)
    _post(owner, f"/settings/members/{_membership(team.member).id}/role", role="owner")
    response = _post(owner, f"/settings/members/{_membership(team.owner).id}/remove")
    assert response.status_code == 302 and response.headers["Location"].endswith("/projects")
    assert (
        db.session.scalars(select(Membership).where(Membership.user_id == team.owner.id)).first()
        is None
    )
