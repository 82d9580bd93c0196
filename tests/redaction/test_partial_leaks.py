"""Regression tests for the partial leaks and misses issue 15 reported, one per case.

Each of these once came out "redacted" with part of the secret still in it, or was
kept although its prefix says what it is.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.redaction.secret_factories import base62_crc32
from webriskops.redaction import redact, redact_url
from webriskops.redaction.checks import checksum_holds

RANDOM_600 = ("Zq8xW3vN7mK2pL5rT9yB4cH6jD1fG0sA" * 20)[:600]
JWT = ".".join(
    base64.urlsafe_b64encode(part).rstrip(b"=").decode()
    for part in (
        json.dumps({"alg": "HS256", "typ": "JWT"}).encode(),
        json.dumps({"sub": "1234567890", "name": "Ada"}).encode(),
        b"\x13\x37" * 16,
    )
)


@pytest.mark.parametrize(
    "template",
    ['SECRET_KEY="{}"', "SECRET_KEY={}", "api_token: '{}'", "<apiToken>{}</apiToken>"],
)
def test_a_value_longer_than_512_characters_is_redacted_whole(template: str) -> None:
    redacted = redact(template.format(RANDOM_600))
    assert RANDOM_600[-40:] not in redacted
    assert redacted == template.format("[REDACTED:generic_secret]")


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_passphrase_with_spaces_is_redacted_whole(quote: str) -> None:
    text = f"password = {quote}correct horse battery staple{quote}"
    assert redact(text) == f"password = {quote}[REDACTED:password]{quote}"


def test_a_message_next_to_a_password_name_is_kept() -> None:
    text = '{"password": "Must be at least 8 characters."}'
    assert redact(text) == text


def test_a_jwt_sent_as_basic_credentials_is_redacted_whole() -> None:
    assert redact(f"Authorization: Basic {JWT}") == "Authorization: Basic [REDACTED:jwt]"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cafebabe:deadbeef@gems.contribsys.com/",
            "https://[REDACTED:url_password]@gems.contribsys.com/",
        ),
        (
            "https://Zq8xW3vN7mK2pL5rT9yB4cH6jD1fG0sA:x-oauth-basic@github.com/acme/app.git",
            "https://[REDACTED:url_password]@github.com/acme/app.git",
        ),
        # A plain user name stays; only its password goes.
        (
            "https://deploy:Tr0ub4dor-3x@git.example.com/app.git",
            "https://deploy:[REDACTED:url_password]@git.example.com/app.git",
        ),
    ],
)
def test_a_url_user_part_that_is_the_credential_is_redacted(url: str, expected: str) -> None:
    assert redact(url) == expected
    assert redact_url(url) == expected


def test_a_github_token_with_a_bad_checksum_is_redacted() -> None:
    body = "Zq8xW3vN7mK2pL5rT9yB4cH6jD1fG0"
    good = "ghp_" + body + base62_crc32(body)
    bad = "ghp_" + body + "AAAAAA"
    assert checksum_holds(good.encode()) and not checksum_holds(bad.encode())
    assert redact(f"token {good}") == "token [REDACTED:github_token]"
    assert redact(f"token {bad}") == "token [REDACTED:github_token]"
    assert redact(f"npm_{body}AAAAAA") == "[REDACTED:npm_token]"


@pytest.mark.parametrize(
    "text",
    [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "SLACK_TOKEN=xoxb-your-token-here",
        "token: your-token-here",
        "API_TOKEN=${API_TOKEN}",
        "password: @@DB_PASSWORD@@",
        "client_secret: XXXX-XXXX-XXXX-XXXX",
        "api_key = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ],
)
def test_placeholders_are_kept(text: str) -> None:
    assert redact(text) == text
