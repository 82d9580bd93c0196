"""Section 3.7 end to end: secrets sent in every redacted field reach neither the database,
the logs nor the queue.

The secrets are generated per run in their real formats (nothing real is committed) and
sent in each field the contract lists. Afterwards the whole database is dumped
(``pg_dump`` on PostgreSQL, ``iterdump`` on SQLite), every log record and every Redis
value is read, and none may contain any of them.
"""

from __future__ import annotations

import base64
import logging
import random
import sqlite3
import string
import subprocess

import orjson
import pytest
from redis import Redis

from tests import payloads
from tests.conftest import SCANNER_SECRET

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)


@pytest.fixture
def app_overrides(redis_url):
    return {"REDIS_URL": redis_url}


def _random(alphabet: str, length: int, rng: random.Random) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def make_secrets(seed: int) -> dict[str, str]:
    """One secret of several common families, random but in the real format."""
    rng = random.Random(seed)
    upper_digits = string.ascii_uppercase + string.digits
    b64 = string.ascii_letters + string.digits + "+/"
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = (
        base64.urlsafe_b64encode(
            orjson.dumps({"sub": _random(string.digits, 8, rng), "admin": True})
        )
        .rstrip(b"=")
        .decode()
    )
    signature = _random(string.ascii_letters + string.digits + "-_", 43, rng)
    return {
        "aws_key": "AKIA" + _random(upper_digits, 16, rng),
        "aws_secret": _random(b64, 40, rng),
        "jwt": f"{header}.{claims}.{signature}",
        "stripe": "sk_live_" + _random(string.ascii_letters + string.digits, 24, rng),
        "url_password": "pw" + _random(string.ascii_letters + string.digits, 14, rng),
        "query_token": _random(string.ascii_letters + string.digits, 32, rng),
        "bearer": _random(string.ascii_letters + string.digits, 40, rng),
        "slack": "xoxb-"
        + "-".join(_random(string.digits, 12, rng) for _ in range(2))
        + "-"
        + _random(string.ascii_letters + string.digits, 24, rng),
        "scanner_secret": SCANNER_SECRET,
    }


def secret_text(s: dict[str, str]) -> str:
    """A paragraph carrying every secret the way evidence usually does."""
    return (
        f'config: AWS_ACCESS_KEY_ID={s["aws_key"]} aws_secret_access_key = "{s["aws_secret"]}"\n'
        f"Authorization: Bearer {s['jwt']}\n"
        f"stripe.api_key = '{s['stripe']}'; slack token {s['slack']}\n"
        f"fetch('https://admin:{s['url_password']}@api.example.com/v1?token={s['query_token']}')\n"
        f"X-Scanner-Secret: {s['scanner_secret']}"
    )


def dump_database(app, database_url: str) -> str:
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    name = database_url.rsplit("/", 1)[1]
    return subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def dump_redis(url: str) -> bytes:
    client = Redis.from_url(url)
    parts = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            parts.extend(v for pair in client.hgetall(key).items() for v in pair)
        elif kind == b"list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind in (b"set", b"zset"):
            parts.extend(client.zrange(key, 0, -1) if kind == b"zset" else client.smembers(key))
        parts.append(key)
    client.close()
    return b"\n".join(parts)


def test_secrets_in_every_redacted_field_are_never_stored_logged_or_queued(
    app, post, make_run, database_url, redis_url, caplog
):
    secrets = make_secrets(random.SystemRandom().randrange(2**32))
    text = secret_text(secrets)
    completed_run, failed_run = make_run(), make_run()
    issue = payloads.issue(
        1,
        title=f"Leaked key {secrets['aws_key']}",
        description=text,
        evidence=text,
        businessImpact=text,
        suggestedRemediation=f"Rotate {secrets['stripe']} now",
        reproductionSteps=[text, f"curl -H 'Authorization: Bearer {secrets['bearer']}'"],
    )
    data = payloads.completed(completed_run.id, [issue])
    leaky_url = (
        f"https://admin:{secrets['url_password']}@shop.example.com/account"
        f"?access_token={secrets['query_token']}&page=2"
    )
    data["page"].update(url=leaky_url, normalizedUrl=leaky_url, title=f"Token {secrets['slack']}")
    data["page"]["responseHeaders"] = {
        "Set-Cookie": f"session={secrets['query_token']}; Path=/; HttpOnly",
        "Authorization": f"Bearer {secrets['bearer']}",
        "Cookie": f"sid={secrets['url_password']}",
        "Proxy-Authorization": "Basic "
        + base64.b64encode(b"user:" + secrets["url_password"].encode()).decode(),
        "X-Api-Key": secrets["query_token"],
        "X-Session-Id": secrets["aws_secret"],
        "X-Debug": text,
    }
    failure = payloads.failed(
        failed_run.id,
        message=f"Login failed for token {secrets['stripe']}: {text}",
        url=leaky_url,
    )

    with caplog.at_level(logging.DEBUG):
        assert post(data).status_code == 202
        assert post(failure).status_code == 202

    haystacks = {
        "database": dump_database(app, database_url),
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "queue": dump_redis(redis_url).decode("utf-8", "replace"),
    }
    assert "[REDACTED:" in haystacks["database"]
    assert "shop.example.com" in haystacks["database"]  # the evidence around the secrets stays
    for where, haystack in haystacks.items():
        leaked = [name for name, value in secrets.items() if value in haystack]
        assert not leaked, f"{leaked} found in the {where}"
