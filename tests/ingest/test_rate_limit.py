"""Rate limiting of the scanner endpoint: 429 with Retry-After, IETF draft headers, Redis-backed."""

from __future__ import annotations

import pytest

from tests import payloads


@pytest.fixture
def app_overrides(request):
    overrides = {"SCANNER_RATE_LIMIT": "3/minute"}
    if "redis_url" in request.fixturenames:
        overrides["REDIS_URL"] = request.getfixturevalue("redis_url")
    return overrides


def _exhaust(post, run_id):
    return [post(payloads.completed(run_id)) for _ in range(4)]


def test_limit_answers_429_with_retry_after(post, make_run):
    run = make_run()
    responses = _exhaust(post, run.id)
    assert [r.status_code for r in responses] == [202, 202, 202, 429]
    limited = responses[-1]
    assert limited.get_json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_headers_on_every_scanner_response(post, make_run):
    run = make_run()
    ok = post(payloads.completed(run.id))
    assert ok.headers["RateLimit-Policy"] == '"scanner";q=3;w=60'
    assert ok.headers["RateLimit"].startswith('"scanner";r=2;t=')
    bad = post(b"{")
    assert bad.status_code == 400
    assert bad.headers["RateLimit"].startswith('"scanner";r=1;t=')
    unauthenticated = post(b"{", {"X-Scanner-Secret": "wrong"})
    assert unauthenticated.headers["RateLimit-Policy"]


def test_authentication_comes_before_the_limit(post, make_run):
    run = make_run()
    _exhaust(post, run.id)
    assert post(payloads.completed(run.id), {"X-Scanner-Secret": "wrong"}).status_code == 401


def test_limit_is_shared_through_redis(app, post, make_run, redis_url):
    from redis import Redis

    run = make_run()
    assert [r.status_code for r in _exhaust(post, run.id)][-1] == 429
    assert any(b"scanner" in key for key in Redis.from_url(redis_url).keys("*"))


def test_redis_outage_fails_open(app, post, make_run):
    from webriskops.ratelimit import ScannerRateLimiter
    from webriskops.redis_client import create_client

    unreachable = create_client("redis://127.0.0.1:1/0")
    app.extensions["scanner_rate_limiter"] = ScannerRateLimiter("3/minute", unreachable)
    run = make_run()
    assert post(payloads.completed(run.id)).status_code == 202
