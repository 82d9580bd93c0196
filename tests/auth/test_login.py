"""Customer login and logout: the form, cookies, passwords, redirects and throttling."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from webriskops.auth.session import safe_next
from webriskops.extensions import db
from webriskops.models import User

PASSWORD = "correct horse battery"  # noqa: S105 - test users only


@pytest.fixture
def user(make_org, make_user) -> User:
    """An owner of a fresh organization."""
    return make_user(make_org(), "person@example.com", "owner", PASSWORD)


def _post_login(client, email: str, password: str, query: str = ""):
    token = client.csrf_token()
    return client.post(
        f"/login{query}", data={"email": email, "password": password, "csrf_token": token}
    )


def test_login_form_has_the_contract_fields(web):
    page = web().get("/login")
    assert page.status_code == 200
    for name in ("email", "password", "csrf_token"):
        assert f'name="{name}"' in page.text


def test_login_sets_a_hardened_session_cookie(user, web):
    client = web()
    response = _post_login(client, "person@example.com", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/projects"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on plain HTTP
    assert client.get("/projects").status_code == 200


@pytest.mark.parametrize("app_overrides", [{"SESSION_COOKIE_SECURE": True}])
def test_cookie_is_secure_outside_development(user, web, app_overrides):
    from config import Config, DevelopmentConfig

    assert Config.SESSION_COOKIE_SECURE is True and DevelopmentConfig.SESSION_COOKIE_SECURE is False
    response = _post_login(web(), "person@example.com", PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie


def test_passwords_are_hashed_with_argon2id(user):
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("email", "password"),
    [("person@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
def test_wrong_credentials_get_one_answer(user, web, email, password):
    client = web()
    response = _post_login(client, email, password)
    assert response.status_code == 401
    assert "The email or password is not correct." in response.text
    assert client.get("/projects").status_code == 302


def test_email_is_matched_case_insensitively(user, web):
    assert _post_login(web(), "Person@Example.COM", PASSWORD).status_code == 302


def test_empty_form_is_explained(web):
    client = web()
    response = client.post("/login", data={"csrf_token": client.csrf_token()})
    assert response.status_code == 400
    assert "Enter your email address." in response.text and "Enter your password." in response.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/scan-runs/5/report", "/scan-runs/5/report"),
        ("/projects?page=2", "/projects?page=2"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        ("\\\\evil.example", None),
        ("javascript:alert(1)", None),
        ("/ok\r\nLocation: https://evil.example", None),
        ("projects", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_next_accepts_only_relative_paths(target, expected):
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("next_param", "location"),
    [
        ("/scan-runs/5/report", "/scan-runs/5/report"),
        ("https://evil.example/", "/projects"),
        ("//evil.example/", "/projects"),
        ("/%5Cevil.example", "/projects"),
    ],
)
def test_login_redirects_only_to_safe_next(user, web, next_param, location):
    response = _post_login(web(), "person@example.com", PASSWORD, f"?next={next_param}")
    assert response.status_code == 302 and response.headers["Location"] == location


def test_page_redirect_carries_next_and_comes_back(user, web):
    client = web()
    response = client.get("/projects?page=2")
    assert unquote(response.headers["Location"]) == "/login?next=/projects?page=2"
    login_page = client.get(response.headers["Location"])
    action = re.search(r'<form method="post" action="([^"]+)"', login_page.text).group(1)
    token = client.csrf_token()
    back = client.post(
        action.replace("&amp;", "&"),
        data={"email": "person@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert back.headers["Location"] == "/projects?page=2"


def test_logout_ends_the_session(user, login):
    client = login("person@example.com")
    assert client.get("/projects").status_code == 200
    assert client.get("/logout").status_code == 405  # only POST, with a CSRF token
    response = client.post("/logout", data={"csrf_token": client.csrf_token()})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/projects").status_code == 302


def test_password_change_ends_other_sessions(user, login):
    from webriskops.auth.passwords import hash_password

    client = login("person@example.com")
    assert client.get("/projects").status_code == 200
    db.session.get(User, user.id).password_hash = hash_password("a new password")
    db.session.commit()
    assert client.get("/projects").status_code == 302
