"""A hung Redis (SIGSTOP) under real gunicorn: postbacks stay fast, login throttling stays on.

Redis is a private ``redis-server`` that the test freezes; the database is the suite's.
"""

from __future__ import annotations

import re
import statistics
import time

import orjson
import pytest
import requests
from sqlalchemy import select

from tests import payloads
from tests.conftest import SCANNER_SECRET
from webriskops.extensions import db
from webriskops.models import OutboxJob

pytestmark = pytest.mark.slow
HEADERS = {"X-Scanner-Secret": SCANNER_SECRET, "Content-Type": "application/json"}
PASSWORD = "correct horse battery"  # noqa: S105 - test users only
_TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


@pytest.fixture
def server(app, database_url, artifacts_dir, private_redis, serve):
    """gunicorn on the suite's database and the private Redis."""
    return serve(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": private_redis.url,
            "WRO_SCANNER_SHARED_SECRET": SCANNER_SECRET,
            "WRO_ARTIFACTS_DIR": str(artifacts_dir),
        },
        workers=2,
        threads=4,
    )


def _postbacks(base: str, run_ids: list[int]) -> list[float]:
    seconds = []
    for run_id in run_ids:
        started = time.perf_counter()
        response = requests.post(
            f"{base}/api/scanner/results",
            data=orjson.dumps(payloads.completed(run_id)),
            headers=HEADERS,
            timeout=30,
        )
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 202, response.text
    return seconds


def _login(base: str, session: requests.Session, password: str) -> requests.Response:
    token = _TOKEN.search(session.get(f"{base}/login", timeout=10).text).group(1)
    return session.post(
        f"{base}/login",
        data={"email": "person@example.com", "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )


def test_postbacks_stay_fast_and_keep_their_work_while_redis_hangs(server, private_redis, make_run):
    run_ids = [make_run().id for _ in range(30)]
    normal = _postbacks(server, run_ids[:10])
    private_redis.freeze()
    try:
        hung = _postbacks(server, run_ids[10:30])
        ready_started = time.perf_counter()
        ready = requests.get(f"{server}/readyz", timeout=10)
        ready_seconds = time.perf_counter() - ready_started
    finally:
        private_redis.thaw()
    # A short timeout trips the breaker once per process; after that Redis is skipped.
    assert statistics.median(hung) <= statistics.median(normal) + 0.1, (normal, hung)
    assert max(hung) < 1.0, hung
    assert ready.status_code == 503 and ready.json()["checks"]["queue"] != "ok"
    assert ready_seconds < 1.0
    # The outbox kept the work the queue could not take.
    db.session.expire_all()
    pending = db.session.scalars(select(OutboxJob.args).where(OutboxJob.state == "pending")).all()
    assert {args["scan_run_id"] for args in pending} >= set(run_ids[10:30])


def test_login_throttling_does_not_fail_open_while_redis_hangs(
    server, private_redis, make_org, make_user
):
    make_user(make_org(), "person@example.com", "owner", PASSWORD)
    browser = requests.Session()
    private_redis.freeze()
    try:
        answers = [_login(server, browser, "wrong password") for _ in range(8)]
    finally:
        private_redis.thaw()
    # No guess is checked while failures cannot be counted: refused, with a wait.
    assert {answer.status_code for answer in answers} == {503}
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in answers)
    assert "Login is briefly unavailable" in answers[-1].text
    assert all(answer.elapsed.total_seconds() < 1.0 for answer in answers)
    # Once Redis answers again (after the breaker's cool-down), the counters work.
    deadline = time.monotonic() + 15
    while (answer := _login(server, browser, "wrong password")).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert answer.status_code == 401
    statuses = [_login(server, browser, "wrong password").status_code for _ in range(5)]
    assert statuses[-1] == 429
