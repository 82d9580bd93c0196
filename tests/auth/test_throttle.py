"""Login throttling: failures per email and address, counters in memory or in Redis."""

from __future__ import annotations

import pytest

from webriskops.models import User

PASSWORD = "correct horse battery"  # noqa: S105 - test users only


@pytest.fixture
def user(make_org, make_user) -> User:
    """An owner of a fresh organization."""
    return make_user(make_org(), "person@example.com", "owner", PASSWORD)


def _post_login(client, email: str, password: str, headers: dict[str, str] | None = None):
    token = client.csrf_token()
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, headers=headers or {})


@pytest.fixture(params=["memory", "redis"])
def app_overrides(request: pytest.FixtureRequest) -> dict:
    """Throttle counters in memory (one process) and in Redis (shared by processes)."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {}


def test_failed_logins_are_throttled_per_email_and_address(user, web, make_user, make_org):
    client = web()
    for _ in range(5):
        assert _post_login(client, "person@example.com", "wrong").status_code == 401
    # Now even the right password waits, and the answer says for how long.
    blocked = _post_login(client, "person@example.com", PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed attempts" in blocked.text
    # Another account from the same address is not locked out by this one.
    make_user(make_org("Other"), "other@example.com", "owner", PASSWORD)
    assert _post_login(client, "other@example.com", PASSWORD).status_code == 302


def test_successful_login_clears_the_failures(user, web):
    client = web()
    for _ in range(4):
        assert _post_login(client, "person@example.com", "wrong").status_code == 401
    assert _post_login(client, "person@example.com", PASSWORD).status_code == 302
    fresh = web()
    for _ in range(4):
        assert _post_login(fresh, "person@example.com", "wrong").status_code == 401
    assert _post_login(fresh, "person@example.com", PASSWORD).status_code == 302


@pytest.mark.parametrize("app_overrides", [{"TRUSTED_PROXIES": 1}], indirect=False)
def test_behind_a_trusted_proxy_the_forwarded_client_address_is_throttled(user, web):
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    client = web()
    for _ in range(5):
        assert _post_login(client, "person@example.com", "wrong", attacker).status_code == 401
    assert _post_login(client, "person@example.com", PASSWORD, attacker).status_code == 429
    # The router's address is the same for everyone; the customer's own is not blocked.
    customer = {"X-Forwarded-For": "198.51.100.9"}
    assert _post_login(web(), "person@example.com", PASSWORD, customer).status_code == 302


@pytest.mark.parametrize("app_overrides", [{"TRUSTED_PROXIES": 1}], indirect=False)
def test_behind_a_trusted_proxy_forged_entries_before_its_own_change_nothing(user, web):
    client = web()
    for attempt in range(5):
        # The client writes what it likes; the router appends the address it saw.
        forged = {"X-Forwarded-For": f"203.0.113.{attempt}, 198.51.100.77"}
        assert _post_login(client, "person@example.com", "wrong", forged).status_code == 401
    forged = {"X-Forwarded-For": "192.0.2.1, 198.51.100.77"}
    assert _post_login(client, "person@example.com", PASSWORD, forged).status_code == 429
    # Someone else behind their own proxy, seen by the router at another address.
    proxied = {"X-Forwarded-For": "10.0.0.5, 198.51.100.9"}
    assert _post_login(web(), "person@example.com", PASSWORD, proxied).status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_address_changes_nothing(user, web):
    client = web()
    for attempt in range(5):
        forged = {"X-Forwarded-For": f"203.0.113.{attempt}"}
        assert _post_login(client, "person@example.com", "wrong", forged).status_code == 401
    forged = {"X-Forwarded-For": "198.51.100.9"}
    assert _post_login(client, "person@example.com", PASSWORD, forged).status_code == 429
