"""App-wide rules: security headers and HSTS, one CSRF rule, forwarded-for chains, 405 Allow."""

from __future__ import annotations

import pytest

from config import Config, DevelopmentConfig


@pytest.fixture
def app_overrides(request: pytest.FixtureRequest) -> dict:
    """Production's HSTS, or a trusted proxy, for the tests that name them."""
    name = request.node.name
    if "hsts" in name:
        return {"HSTS_SECONDS": Config.HSTS_SECONDS}
    if "forwarded" in name:
        return {"TRUSTED_PROXIES": 1}
    return {}


def test_production_sends_hsts_and_development_does_not():
    assert Config.HSTS_SECONDS >= 180 * 24 * 3600
    assert DevelopmentConfig.HSTS_SECONDS == 0


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/openapi.json", "/nowhere"])
def test_hsts_on_every_response_in_production(client, path):
    response = client.get(path)
    assert response.headers["Strict-Transport-Security"] == (
        f"max-age={Config.HSTS_SECONDS}; includeSubDomains"
    )


def test_development_sends_no_strict_transport_security(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_every_html_page_gets_the_security_headers(client):
    # /login belongs to the auth blueprint: the headers are the app's, not one blueprint's.
    response = client.get("/login")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/scanner/results", {"POST"}),
        ("GET", "/logout", {"POST"}),
        ("POST", "/projects", {"GET"}),  # a wrong method is a 405, not a CSRF failure
    ],
)
def test_405_answers_carry_allow(client, method, path, allow):
    json_answer = client.open(path, method=method, headers={"Accept": "application/json"})
    page = client.open(path, method=method, headers={"Accept": "text/html"})
    for response in (json_answer, page):
        assert response.status_code == 405
        assert allow <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert json_answer.json["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_forwarded_chain_from_a_clients_own_proxy_is_let_in(client):
    # The customer's proxy added 10.0.0.5; the router (the one trusted hop) added theirs.
    headers = {"X-Forwarded-For": "10.0.0.5, 198.51.100.9"}
    assert client.get("/healthz", headers=headers).status_code == 200
    split = [("X-Forwarded-For", "10.0.0.5"), ("X-Forwarded-For", "198.51.100.9")]
    assert client.get("/healthz", headers=split).status_code == 200


def test_without_trusted_proxies_any_x_f_f_chain_is_ignored(client):
    headers = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9, 10.0.0.1"}
    assert client.get("/healthz", headers=headers).status_code == 200


def test_csrf_exemptions_are_one_rule_not_per_view(app):
    from webriskops.extensions import csrf

    assert not csrf._exempt_views and not csrf._exempt_blueprints
    assert app.config["WTF_CSRF_CHECK_DEFAULT"] is False  # checked by webriskops.security


def test_the_shared_services_use_one_redis_client(app_factory_with_redis):
    from webriskops.auth.throttle import login_throttle
    from webriskops.jobs import queue
    from webriskops.ratelimit import scanner_limiter
    from webriskops.redis_client import SOCKET_TIMEOUT, redis_client

    app = app_factory_with_redis
    client = redis_client(app)
    pool = client.connection_pool
    assert queue.connection() is client
    assert scanner_limiter(app).storage.storage.connection_pool is pool
    assert login_throttle().storage.storage.connection_pool is pool
    assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT <= 0.5
    assert pool.connection_kwargs["retry"].get_retries() == 0


@pytest.fixture
def app_factory_with_redis(database_url, artifacts_dir, redis_url):
    from tests.conftest import make_config
    from webriskops import create_app

    app = create_app(
        make_config(
            SQLALCHEMY_DATABASE_URI=database_url,
            ARTIFACTS_DIR=str(artifacts_dir),
            REDIS_URL=redis_url,
        )
    )
    with app.app_context():
        yield app
