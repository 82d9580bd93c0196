"""API tokens in the browser: created and shown once, hashed, listed, revoked, expiring."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from webriskops.auth.tokens import hash_token
from webriskops.extensions import db
from webriskops.models import ApiToken
from webriskops.models.base import as_utc, utcnow

_SHOWN = re.compile(r'id="new-token-value">(wro_[^<]+)<')


def create(client, name: str = "CI pipeline", expires: str = "") -> str:
    """Create a token through the form; returns the token shown on the page."""
    csrf = client.csrf_token("/settings/tokens")
    response = client.post(
        "/settings/tokens", data={"name": name, "expires": expires, "csrf_token": csrf}
    )
    assert response.status_code == 201, response.text
    match = _SHOWN.search(response.text)
    assert match, "the new token is shown"
    return match.group(1)


def read_api(app, token: str, project_id: int):
    """GET the project's runs with a bearer token (a fresh client: no cookie)."""
    with app.app_context():
        return app.test_client().get(
            f"/api/projects/{project_id}/scan-runs", headers={"Authorization": f"Bearer {token}"}
        )


def test_token_is_shown_once_stored_hashed_and_listed(app, team, login):
    client = login(team.member.email)
    token = create(client, "CI pipeline", expires="30")
    row = db.session.scalars(select(ApiToken)).one()
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert row.name == "CI pipeline" and row.user_id == team.member.id
    assert timedelta(days=29) < as_utc(row.expires_at) - utcnow() <= timedelta(days=30)
    page = client.get("/settings/tokens").text
    assert token not in page, "shown only in the answer to the POST that made it"
    assert "CI pipeline" in page and row.prefix in page and "Never" in page  # never used yet
    assert read_api(app, token, team.project.id).status_code == 200


def test_blank_name_is_refused(team, login):
    client = login(team.member.email)
    response = client.post(
        "/settings/tokens",
        data={"name": "   ", "csrf_token": client.csrf_token("/settings/tokens")},
    )
    assert response.status_code == 400
    assert "Give the token a name" in response.text
    assert db.session.scalars(select(ApiToken)).first() is None


def test_revoked_token_gets_401_at_once(app, team, login):
    client = login(team.member.email)
    token = create(client)
    assert read_api(app, token, team.project.id).status_code == 200
    row = db.session.scalars(select(ApiToken)).one()
    response = client.post(
        f"/settings/tokens/{row.id}/revoke",
        data={"csrf_token": client.csrf_token("/settings/tokens")},
    )
    assert response.status_code == 302
    answer = read_api(app, token, team.project.id)
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "UNAUTHORIZED"
    assert "Revoked" in client.get("/settings/tokens").text


def test_expired_token_gets_401(app, team, login):
    token = create(login(team.member.email), expires="7")
    db.session.execute(
        ApiToken.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert read_api(app, token, team.project.id).status_code == 401


def test_someone_elses_token_cannot_be_revoked(team, login):
    create(login(team.owner.email), "Deploy key of the owner")
    row = db.session.scalars(select(ApiToken)).one()
    colleague = login(team.member.email)
    response = colleague.post(
        f"/settings/tokens/{row.id}/revoke",
        data={"csrf_token": colleague.csrf_token("/settings/tokens")},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at is None
    assert "Deploy key of the owner" not in colleague.get("/settings/tokens").text


def test_last_used_at_is_written_at_most_once_a_minute(app, team, login):
    token = create(login(team.member.email))
    assert db.session.scalars(select(ApiToken)).one().last_used_at is None
    assert read_api(app, token, team.project.id).status_code == 200
    db.session.expire_all()
    first = db.session.scalars(select(ApiToken)).one().last_used_at
    assert first is not None and utcnow() - as_utc(first) < timedelta(seconds=30)
    # A second use within the minute does not write.
    assert read_api(app, token, team.project.id).status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken)).one().last_used_at == first
    # A use after more than a minute does.
    earlier = utcnow() - timedelta(minutes=2)
    db.session.execute(ApiToken.__table__.update().values(last_used_at=earlier))
    db.session.commit()
    assert read_api(app, token, team.project.id).status_code == 200
    db.session.expire_all()
    assert as_utc(db.session.scalars(select(ApiToken)).one().last_used_at) > earlier + timedelta(
        seconds=90
    )


def test_invalid_expiry_choice_is_refused(team, login):
    client = login(team.member.email)
    response = client.post(
        "/settings/tokens",
        data={"name": "x", "expires": "99999", "csrf_token": client.csrf_token("/settings/tokens")},
    )
    assert response.status_code == 400
    assert db.session.scalars(select(ApiToken)).first() is None
