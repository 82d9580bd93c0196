"""The interface the app calls: literal secrets, URLs, headers, and the module helpers.

Values are generated per test from ``secret_factories`` or are obviously fake; what is
checked is the exact output, so kept text and marker kinds are pinned down as well.
"""

from __future__ import annotations

import json
import random
import urllib.parse

import pytest

from tests.redaction.secret_factories import ALNUM, SECRETS, checksummed, rand
from webriskops.redaction import Redactor, redact, redact_headers, redact_url

SCANNER_SECRET = "scn_" + rand(random.Random("scanner"), ALNUM, 40)


# --- literal secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "encode"),
    [
        ("X-Scanner-Secret: {}", str),
        ('{{"secret": "{}"}}', str),
        ("POST /api/scanner/results?auth={}", urllib.parse.quote),
        ('{{"body": "{}"}}', lambda s: json.dumps(s)[1:-1]),
        ("<pre>{}</pre>", str),
        ("secret was {}.", str),
    ],
)
def test_a_literal_secret_is_replaced_wherever_it_appears(template: str, encode) -> None:
    redactor = Redactor(literal_secrets=[SCANNER_SECRET])
    text = template.format(encode(SCANNER_SECRET))
    assert redactor.redact(text) == template.format("[REDACTED:scanner_secret]")


def test_an_encoded_literal_secret_is_replaced() -> None:
    secret = "s3cr3t/with+plus&amp=" + rand(random.Random(1), ALNUM, 12)
    redactor = Redactor([secret])
    for form in (urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1]):
        assert secret not in redactor.redact(f"value={form} end")
        assert form not in redactor.redact(f"value={form} end")


def test_literal_secrets_that_are_empty_or_short_are_ignored() -> None:
    redactor = Redactor(literal_secrets=["", "short", "1234567"])
    text = "a short text with 1234567 in it"
    assert redactor.redact(text) == text


def test_a_literal_that_is_part_of_a_marker_cannot_break_idempotency() -> None:
    redactor = Redactor(literal_secrets=["REDACTED:scanner", "scanner_secret]"])
    once = redactor.redact(f"key {SCANNER_SECRET} and REDACTED:scanner")
    assert redactor.redact(once) == once


def test_several_literals_overlapping_are_one_marker() -> None:
    redactor = Redactor(literal_secrets=["abcdefgh12345678", "12345678ijklmnop"])
    assert redactor.redact("x abcdefgh12345678ijklmnop y") in (
        "x [REDACTED:scanner_secret]ijklmnop y",
        "x [REDACTED:scanner_secret][REDACTED:scanner_secret] y",
    )


def test_literals_and_rules_apply_together_and_the_default_has_no_literals() -> None:
    token = checksummed("ghp_", random.Random(3))
    text = f"secret={SCANNER_SECRET} token {token}"
    assert Redactor([SCANNER_SECRET]).redact(text) == (
        "secret=[REDACTED:scanner_secret] token [REDACTED:github_token]"
    )
    assert SCANNER_SECRET not in redact(text)  # caught by the generic rule by name


def test_empty_text_and_secret_free_text_come_back_unchanged() -> None:
    assert redact("") == ""
    text = "Ordinary page text, version 1.2.3, see https://example.com/?page=2."
    assert redact(text) is text


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://deploy:hunter2xyz@git.example.com/acme/app.git",
            "https://deploy:[REDACTED:url_password]@git.example.com/acme/app.git",
        ),
        (
            "postgres://app:pa55w0rd!@db.internal:5432/app",
            "postgres://app:[REDACTED:connection_string_password]@db.internal:5432/app",
        ),
        (
            "https://api.example.com/v1?api_key=Zx81Qw72Er63Ty54&page=2",
            "https://api.example.com/v1?api_key=[REDACTED:query_secret]&page=2",
        ),
        (
            "https://app.example.com/cb?code=4/0AX4XfWh8Yq2&state=af0ifjsldkj",
            "https://app.example.com/cb?code=[REDACTED:query_secret]&state=af0ifjsldkj",
        ),
        (
            "https://app.example.com/cb#access_token=Yq2Wk81z0PqL7&token_type=Bearer",
            "https://app.example.com/cb#access_token=[REDACTED:query_secret]&token_type=Bearer",
        ),
        (
            "https://files.example.com/r.csv?X-Amz-Signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "https://files.example.com/r.csv?X-Amz-Signature=[REDACTED:query_secret]",
        ),
        (
            "https://shop.example.com/cart;jsessionid=0A1B2C3D4E5F6A7B8C9D0E1F?x=1",
            "https://shop.example.com/cart;jsessionid=[REDACTED:query_secret]?x=1",
        ),
        (
            "https://app.example.com/x?sessionKey=AbCd1234efgh&sig=Zk29xQ81mN0p",
            "https://app.example.com/x?sessionKey=[REDACTED:generic_secret]"
            "&sig=[REDACTED:query_secret]",
        ),
        (
            "https://app.example.com/login?user=bob&passwd=%24ecret!",
            "https://app.example.com/login?user=bob&passwd=[REDACTED:password]",
        ),
        (
            "https://app.example.com/p?api%5Fkey=AbCd1234efgh",
            "https://app.example.com/p?api%5Fkey=[REDACTED:query_secret]",
        ),
    ],
)
def test_url_credentials_and_secret_parameters_are_redacted(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_url(expected) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.com/search?q=password+reset&page=3&utm_source=newsletter"
        "&utm_medium=email&utm_campaign=spring",
        "https://www.example.com/product/42?id=42&color=red&size=m&ref=home",
        "https://accounts.example.com/?authuser=0&hl=en&session=new&key=short",
        "https://app.example.com/docs/tokens?section=api-keys#create-a-token",
        "https://cdn.example.com/app.3f2a9c0d1e8b7a6f.js?v=3f2a9c0d&integrity=sha384",
        "https://example.com/oauth?response_type=code&token_type=bearer&expires_in=3600",
        "https://deploy@github.com/acme/app.git",
        "https://example.com/?keyword=monkey&commit=3f2a9c0d1e8b7a6f5c4d3e2f1a0b9c8d7e6f5a4b",
        "",
    ],
)
def test_public_urls_are_kept(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "family",
    ["slack_webhook_url", "discord_webhook_url", "sentry_dsn", "jwt", "github_classic_token"],
)
def test_url_gets_the_text_rules_too(family: str) -> None:
    sample = SECRETS[family](random.Random(family))
    url = sample.text if "://" in sample.text else f"https://example.com/r/{sample.text}"
    assert all(secret not in redact_url(url) for secret in sample.secrets)


# --- headers -------------------------------------------------------------------------------


def test_cookie_values_go_and_cookie_names_and_attributes_stay() -> None:
    headers = {
        "Set-Cookie": "sid=Zx81Qw72Er63Ty54; Path=/; HttpOnly; Secure; SameSite=Lax",
        "Cookie": "session=abc123def456; theme=dark; _ga=GA1.2.3456.7890",
    }
    assert redact_headers(headers) == {
        "Set-Cookie": "sid=[REDACTED:cookie]; Path=/; HttpOnly; Secure; SameSite=Lax",
        "Cookie": "session=[REDACTED:cookie]; theme=[REDACTED:cookie]; _ga=[REDACTED:cookie]",
    }


def test_set_cookie_with_an_expiry_date_keeps_the_date() -> None:
    value = "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Domain=example.com"
    assert redact_headers({"set-cookie": value}) == {
        "set-cookie": "id=[REDACTED:cookie]; Expires=Wed, 21 Oct 2015 07:28:00 GMT; "
        "Domain=example.com"
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bearer Zx81Qw72Er63Ty54", "Bearer [REDACTED:bearer_token]"),
        ("bearer abc", "bearer [REDACTED:bearer_token]"),
        ("Basic YWRtaW46aHVudGVyMg==", "Basic [REDACTED:basic_auth]"),
        ("token 0a1b2c3d4e5f60718293a4b5c6d7e8f9", "token [REDACTED:authorization]"),
        ('Digest username="ada", response="6629fae4"', "Digest [REDACTED:authorization]"),
        ("Zx81Qw72Er63Ty54", "[REDACTED:authorization]"),
    ],
)
@pytest.mark.parametrize("name", ["Authorization", "proxy-authorization"])
def test_authorization_keeps_its_scheme(name: str, value: str, expected: str) -> None:
    assert redact_headers({name: value}) == {name: expected}


@pytest.mark.parametrize(
    "name",
    [
        "X-Api-Key",
        "X-Auth-Token",
        "X-Session-Id",
        "X-CSRF-Token",
        "Private-Token",
        "X-Client-Secret",
        "X-Password",
        "Authentication-Info",
        "x-amz-security-token",
    ],
)
def test_headers_named_like_secrets_are_redacted(name: str) -> None:
    assert redact_headers({name: "anything at all"}) == {name: "[REDACTED:header_secret]"}


def test_other_headers_go_through_the_text_rules_and_names_are_kept() -> None:
    token = checksummed("ghp_", random.Random(7))
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "ETag": 'W/"3f2a9c0d1e8b7a6f5c4d3e2f1a0b9c8d"',
        "WWW-Authenticate": 'Bearer realm="api", error="invalid_token"',
        "Content-Security-Policy": "script-src 'nonce-rAnd0mN0nce123==' 'strict-dynamic'",
        "X-Debug": f"github said no to {token}",
        "Location": "https://app.example.com/cb?code=4/0AX4XfWh8Yq2&state=x",
    }
    assert redact_headers(headers) == {
        **headers,
        "X-Debug": "github said no to [REDACTED:github_token]",
        "Location": "https://app.example.com/cb?code=[REDACTED:query_secret]&state=x",
    }


def test_headers_with_a_literal_secret() -> None:
    redactor = Redactor([SCANNER_SECRET])
    assert redactor.redact_headers({"X-Trace": f"by {SCANNER_SECRET}"}) == {
        "X-Trace": "by [REDACTED:scanner_secret]"
    }


def test_headers_are_idempotent() -> None:
    headers = {
        "Set-Cookie": "sid=Zx81Qw72Er63Ty54; Path=/",
        "Authorization": "Bearer Zx81Qw72Er63Ty54",
        "X-Api-Key": "Zx81Qw72Er63Ty54",
    }
    once = redact_headers(headers)
    assert redact_headers(once) == once
