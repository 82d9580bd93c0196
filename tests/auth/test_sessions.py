"""Sessions end on the server side: logout, password change, removal, idle and absolute age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from webriskops.auth.session import end_sessions
from webriskops.extensions import db
from webriskops.models import User, UserSession
from webriskops.models.base import utcnow

PASSWORD = "correct horse battery"  # noqa: S105 - test users only


@pytest.fixture
def user(make_org, make_user) -> User:
    """An owner of a fresh organization."""
    return make_user(make_org(), "person@example.com", "owner", PASSWORD)


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(web, cookie: str):
    """A new client carrying only a saved copy of a session cookie."""
    thief = web()
    thief.set_cookie("session", cookie)
    return thief.get("/projects")


def _sessions(user_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)
    )


def test_a_cookie_saved_before_logout_no_longer_works(user, login, web):
    client = login("person@example.com")
    saved = _session_cookie(client)
    assert _replay(web, saved).status_code == 200
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    replayed = _replay(web, saved)
    assert replayed.status_code == 302 and replayed.headers["Location"].startswith("/login")
    assert _sessions(user.id) == 0


def test_end_sessions_ends_every_session_of_the_user(user, login, web, make_org, make_user):
    other = make_user(make_org("Other"), "other@example.com", "owner", PASSWORD)
    first, second = login("person@example.com"), login("person@example.com")
    bystander = login("other@example.com")
    assert end_sessions(user.id) == 2
    assert first.get("/projects").status_code == 302
    assert second.get("/projects").status_code == 302
    assert bystander.get("/projects").status_code == 200
    assert _sessions(other.id) == 1


def test_password_change_from_the_cli_ends_sessions(user, login, runner, app):
    client = login("person@example.com")
    org_id = user.memberships[0].organization_id
    result = runner.invoke(
        args=[
            "users",
            "create",
            "person@example.com",
            "--org",
            str(org_id),
            "--reset-password",
            "--password-stdin",
        ],
        input="a brand new password\n",
    )
    assert result.exit_code == 0, result.output
    assert _sessions(user.id) == 0
    assert client.get("/projects").status_code == 302


@pytest.mark.parametrize(
    ("column", "age_setting"),
    [("last_seen_at", "SESSION_IDLE_SECONDS"), ("created_at", "SESSION_MAX_SECONDS")],
)
def test_sessions_expire_when_idle_and_at_their_absolute_age(user, login, app, column, age_setting):
    client = login("person@example.com")
    assert client.get("/projects").status_code == 200
    # Just inside the lifetime: still logged in.
    age = app.config[age_setting]
    older = utcnow() - timedelta(seconds=age - 30)
    db.session.execute(update(UserSession).values({column: older}))
    db.session.commit()
    assert client.get("/projects").status_code == 200
    # Past it: logged out, and the row is gone.
    db.session.execute(update(UserSession).values({column: older - timedelta(seconds=60)}))
    db.session.commit()
    assert client.get("/projects").status_code == 302
    assert _sessions(user.id) == 0


def test_activity_keeps_an_idle_session_alive(user, login, app):
    client = login("person@example.com")
    stale = utcnow() - timedelta(seconds=app.config["SESSION_IDLE_SECONDS"] - 30)
    db.session.execute(update(UserSession).values(last_seen_at=stale))
    db.session.commit()
    assert client.get("/projects").status_code == 200  # seen now: the idle clock restarts
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.last_seen_at)) > utcnow() - timedelta(seconds=60)


def test_a_logged_in_request_checks_its_session_with_one_lookup(user, login, app):
    client = login("person@example.com")
    client.get("/projects")  # warm up: anything done once per process is done
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get("/projects").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    session_lookups = [s for s in statements if "user_sessions" in s]
    assert len(session_lookups) == 1, session_lookups
    assert "user_sessions.id_hash = " in session_lookups[0]
