"""No text makes redaction take super-linear time.

Each adversarial input is redacted at sizes N and 4N; a linear engine takes about 4 times
as long, a quadratic one about 16 times. The best of five runs is compared, and a failed
comparison is measured again, so a busy machine rarely makes a linear engine fail.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from webriskops.redaction import redact, redact_url

N = 256 * 1024  # and 4N = 1 MiB
# Inputs where nearly every few bytes is a candidate the checks look at cost seconds per
# MiB (linear, but slow): they run at a quarter of the size to keep the suite quick.
SMALL_N = 64 * 1024
DENSE = {
    "jwt_fragments",
    "set_cookie_pairs",
    "password_assignments",
    "quoted_names",
    "quoted_password_without_end",
    "secret_params",
    "url_userinfo",
    "kubernetes_secret_kinds",
    "add_keys",
    "base58_runs",
}
RATIO_LIMIT = 8


def _base64(size: int) -> str:
    rng = random.Random(size)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda size: (unit * (size // len(unit) + 1))[:size]


ADVERSARIAL = {
    "base64": _base64,
    "a_equals": _repeat("a="),
    "token_equals": _repeat("token="),
    "token_value": _repeat("token=Ab1"),
    "eyj": _repeat("eyJ"),
    "jwt_fragments": _repeat("eyJhbGciOi.eyJ"),
    "pem_header_without_end": _repeat("-----BEGIN RSA PRIVATE KEY-----"),
    "pem_header_newline": _repeat("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"),
    "scheme_separator": _repeat("://"),
    "at_signs": _repeat("@"),
    "userinfo": _repeat("a://b:c"),
    "ghp": _repeat("ghp_"),
    "set_cookie": _repeat("Set-Cookie:"),
    "set_cookie_pairs": _repeat("Set-Cookie: a=b;"),
    "password_assignments": _repeat("password=x;"),
    "quoted_names": _repeat('"password\\": '),
    "bearer": _repeat("Bearer "),
    "query_names": _repeat("?token=&key="),
    "aws_names": _repeat("aws_secret="),
    "long_line_of_letters": _repeat("a"),
    "glued_tokens": _repeat("figd_" + "Ab1" * 13 + "x"),
    "quoted_password_without_end": _repeat("password: 'Tr0ub4dor&3;"),
    "authorization_token": _repeat("Authorization: token abcdefgh"),
    "json_escaped_names": _repeat('\\"token\\": \\"'),
    # Rules added for issue 15.
    "kubernetes_secret_kinds": _repeat("kind: Secret\ndata:\n  a: b\n"),
    "curl_users": _repeat(" -u a:$b"),
    "xml_open_tags": _repeat("<apiToken>abcdefgh"),
    "add_keys": _repeat('<add key="Password" value="'),
    "spaced_passwords": _repeat('password = "a b c d '),
    "vendor_names": _repeat("twitter_key=AAAAAAAAAA"),
    "example_tokens": _repeat("fo1_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX-"),
    "base58_runs": _repeat("5Kb8kLf9zgWQnogidDA76MzPL6TsZZY36hWXMssSzNydYXYB9KF"),
    # Led automata are matched from every occurrence of their literals (engine._Leads).
    "glued_leads": _repeat("AKCp"),
    "glued_facebook_leads": _repeat("EAAb"),
    "mixed_leads": _repeat("ghp_AKIAeyJsk-EAAxoxb-hf_SSWS "),
    "overlapping_leads": _repeat("ops_eyJ"),
}

# ``redact_url`` adds a parameter pass of its own.
URL_ADVERSARIAL = {
    "params": _repeat("?a=b&"),
    "secret_params": _repeat("&token=Zx81Qw72Er63Ty54"),
    "names_without_values": _repeat("?" + "k" * 100),
    "url_userinfo": _repeat("https://u:p@"),
}


def _best_time(text: str, repeats: int, run=redact) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            run(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    ("name", "run"),
    [(name, redact) for name in ADVERSARIAL] + [(name, redact_url) for name in URL_ADVERSARIAL],
)
def test_time_grows_linearly(name: str, run) -> None:
    make = ADVERSARIAL.get(name) or URL_ADVERSARIAL[name]
    size = SMALL_N if name in DENSE else N
    small, large = make(size), make(4 * size)

    # Fast inputs are redacted several times per measurement, so that timer resolution
    # and scheduling noise do not decide the ratio.
    once = _best_time(small, 1, run)
    repeats = max(1, min(50, int(0.02 / max(once, 1e-6))))
    # The machine is shared: a ratio spoiled by a neighbour's burst is measured again
    # (up to three times); a quadratic engine fails every attempt.
    ratio = float("inf")
    for _ in range(3):
        ratio = _best_time(large, repeats, run) / _best_time(small, repeats, run)
        if ratio < RATIO_LIMIT:
            break

    assert ratio < RATIO_LIMIT, f"{name}: 4x the text took {ratio:.1f}x the time"
