"""Cases the randomized property tests (test_properties.py) found, reduced and pinned.

A long local hunt (``REDACTION_EXAMPLES=3000`` and other ``--hypothesis-seed`` values)
draws inputs CI does not; each failure it found is kept here as a plain test, so CI
checks it on every run whatever examples the properties draw.
"""

from __future__ import annotations

import pytest

from webriskops.redaction import redact

# Two keys as Django generates them: 50 characters of its alphabet, which holds
# ``@``, ``(`` and ``)``. The second holds ``@@``, as about one generated key in 50 does.
DJANGO_KEY = "+0cq65zt4w@n6isi+g$q8-#jtg_e*v49gw1u$%n9427qd9af_z"
DJANGO_KEY_AT_AT = "zc@@o%7j@8cbeu%dbi9s7v-+fz-4xj43e3=(8$h1ov62)-rjg#"
DJANGO = "[REDACTED:django_secret_key]"


@pytest.mark.parametrize(
    "template",
    ["DJANGO_SECRET_KEY={}", "SECRET_KEY = 'django-insecure-{}'", "x = django-insecure-{} "],
)
def test_a_django_key_holding_at_at_is_no_template(template: str) -> None:
    # ``@@`` read as the start of an ``@@VAR@@`` template kept the whole key.
    text = template.format(DJANGO_KEY_AT_AT)
    assert redact(text) == text.replace("django-insecure-", "").replace(DJANGO_KEY_AT_AT, DJANGO)


def test_an_at_at_template_in_a_token_place_is_kept() -> None:
    text = "DJANGO_SECRET_KEY=django-insecure-@@DJANGO_SECRET_KEY@@"
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The bracket after a key is the text's, not the key's last character.
        (f"DJANGO_SECRET_KEY={DJANGO_KEY}(", f"DJANGO_SECRET_KEY={DJANGO}("),
        (f"(DJANGO_SECRET_KEY={DJANGO_KEY})", f"(DJANGO_SECRET_KEY={DJANGO})"),
        (f"x = django-insecure-{DJANGO_KEY})", f"x = {DJANGO})"),
        # Nor is the text after that bracket (the key ran on to its last non-bracket).
        (f" DJANGO_SECRET_KEY={DJANGO_KEY}(a", f" DJANGO_SECRET_KEY={DJANGO}(a"),
        (f"x=(django-insecure-{DJANGO_KEY})aeiou", f"x=({DJANGO})aeiou"),
        # A key may end in a bracket of its own: the 50th character is the key's.
        (f"(DJANGO_SECRET_KEY={DJANGO_KEY[:-1]}))", f"(DJANGO_SECRET_KEY={DJANGO})"),
        (f"SECRET_KEY = 'django-insecure-{DJANGO_KEY[:-1]}('", f"SECRET_KEY = '{DJANGO}'"),
    ],
)
def test_a_bracket_after_a_django_key_is_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


HEROKU_LEGACY_KEY = "79a93430-7a09-57e3-590e-aaa0f5799e05"


@pytest.mark.parametrize(
    "name", ["HEROKU_API_KEY_PROD: ", 'heroku_token_ci = "', "HEROKU_API_KEY="]
)
def test_a_legacy_heroku_key_named_with_a_suffix_is_redacted(name: str) -> None:
    # The rule wanted the name to end in its key word: ``…_KEY_PROD`` kept the UUID.
    assert redact(f"{name}{HEROKU_LEGACY_KEY} ") == f"{name}[REDACTED:heroku_api_key] "


@pytest.mark.parametrize("name", ["heroku_api_key_id: ", "herokuTokenId="])
def test_a_uuid_named_as_a_heroku_id_is_kept(name: str) -> None:
    text = f"{name}{HEROKU_LEGACY_KEY} "
    assert redact(text) == text


SEED_WORDS = "aerobic able actor agree agent advice addict again admit acquire agree absurd"
SAS_SIGNATURE = "zQcs2L5vn2KsTAnCggbn41WUqms0L10KOl5IQvq0KPc%3D"
PAYPAL_SECRET = "EU89K1D5a0HECbLMQsNcCGctd76LCNUH1lS_2wLfKkaVE-tNMO66iv9b4-b8p6k_csDZVefZO9jDOmlp"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The query rule read ``<signature>!seed_phrase=`` as one value; the SAS rule's
        # shorter span at the same start won, and the phrase after it was skipped.
        (
            f'https://a.blob.core.windows.net/r.csv?sig={SAS_SIGNATURE}!seed_phrase="{SEED_WORDS}"',
            "https://a.blob.core.windows.net/r.csv?sig=[REDACTED:azure_sas_signature]"
            '!seed_phrase="[REDACTED:crypto_seed_phrase]"',
        ),
        # The same with the generic rule's ``<secret>!PHPSESSID=<id>`` and PayPal's rule.
        (
            f"PAYPAL_CLIENT_SECRET={PAYPAL_SECRET}!PHPSESSID=xEEsAoCaA2QTqpOoast0vQj8VMtbYo9M",
            "PAYPAL_CLIENT_SECRET=[REDACTED:paypal_client_secret]"
            "!PHPSESSID=[REDACTED:generic_secret]",
        ),
    ],
)
def test_a_secret_in_the_tail_of_a_shorter_match_is_redacted_in_one_pass(
    text: str, expected: str
) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_an_aws_secret_key_ending_in_a_slash_before_a_token_is_redacted_in_one_pass() -> None:
    # The AWS key's check wants no base64 after it: ``p8e-…`` is, its marker is not.
    # A marker after ``/`` was taken to change nothing, so the key waited for a second
    # redact.
    text = "aws_sk: +AB3bvOLlU1QWonI3waDzAlTRSCL8ycU4yZrig7/p8e-00000000000100000000000100000000"
    expected = "aws_sk: [REDACTED:aws_secret_access_key][REDACTED:adobe_client_secret]"
    assert redact(text) == expected
    assert redact(expected) == expected


def test_a_secret_starting_at_the_byte_after_a_token_is_redacted_in_one_pass() -> None:
    # The Telegram rule's match takes the byte after the token (it has no lookahead),
    # and the scan went on after it: the ``<`` of ``<add key=…>`` was skipped.
    text = (
        "8021731533:AA1fH-ZM9TBrKrmGsNmjQ8mT3OA94HhblZa"
        '<add key="DbPassword" value="WAcqG76*TB$rKrmG-sN" />'
    )
    expected = '[REDACTED:telegram_bot_token]<add key="DbPassword" value="[REDACTED:password]" />'
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ``…FjPwDa0…`` in the token read as a ``pwd`` name, and its value ran on over
        # the host into the URL's marker.
        (
            "git clone https://J19nLmM6M5Pb1wWa6gQ6VjBB8FjPwDa0Un6JFlpQ:x-oauth-basic"
            "@github.com/acme/app.git",
            "git clone https://[REDACTED:url_password]@github.com/acme/app.git",
        ),
        # ``PASShttps:`` read as a name: its value ran over a webhook to ``example`` and
        # was kept, and once the webhook was a marker the shorter value was redacted.
        (
            "PASShttps://hooks.slack.com/services/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"
            " https://api.example.com/v1/export?format=csv",
            "PASShttps://hooks.slack.com/services/[REDACTED:slack_webhook_url]"
            " https://api.example.com/v1/export?format=csv",
        ),
    ],
)
def test_a_url_scheme_or_user_is_no_secret_name(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_a_value_kept_by_its_name_is_judged_as_the_markers_inside_it_cut_it() -> None:
    # The value ran over the webhook to ``example`` and was kept; once the webhook was a
    # marker, the value ended at it and was a password.
    text = (
        "PASS=0https://hooks.slack.com/services/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"
        "https://api.example.com/v1/export?format=csv"
    )
    once = redact(text)
    assert once.startswith("PASS=[REDACTED:password][REDACTED:slack_webhook_url]")
    assert redact(once) == once


def test_a_value_kept_by_its_name_is_judged_again_when_a_marker_takes_the_name() -> None:
    # The webhook ran on over ``SUMOACCESS_ID``: that name kept ``SID=…`` as no vendor
    # secret, and without it ``SID=…`` was a session id.
    text = (
        "https://hooks.slack.com/services/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"
        "SUMOACCESS_ID:SID=00011234567A"
    )
    expected = (
        "https://hooks.slack.com/services/[REDACTED:slack_webhook_url]"
        ":SID=[REDACTED:generic_secret]"
    )
    assert redact(text) == expected
    assert redact(expected) == expected


def test_a_quoted_password_that_reads_as_a_dotted_name_is_redacted() -> None:
    # ``OLifs99_eCx9.ZU`` parses as ``name.name``: taken for code, it was kept.
    assert redact("admin_pwd = 'OLifs99_eCx9.ZU'") == "admin_pwd = '[REDACTED:password]'"
    assert redact("password:e.target.value") == "password:e.target.value"
