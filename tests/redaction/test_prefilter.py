"""The prefilter: the rules' automata search only windows around its matches, and find
there exactly what a search of the whole text finds.

The reference is the same engine with one window over the whole text. Secrets are put
at every distance from a window's edge, longer than a window, after long lines and
blank runs, and past the point where dense text makes the rest of it one window.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.redaction.hunt import property_settings
from tests.redaction.secret_factories import SECRETS
from webriskops.redaction import Redactor, engine, redact


@contextmanager
def _one_window() -> Iterator[None]:
    with mock.patch.object(engine, "_windows", lambda data: [(0, len(data))]):
        yield


def _reference(text: str) -> str:
    with _one_window():
        return Redactor().redact(text)


def _secret(family: str, seed: int) -> str:
    return SECRETS[family](random.Random(seed)).text


FAMILIES = sorted(SECRETS)
# Filler that starts no rule: lower-case vowels and spaces, so windows end where the
# test puts its line breaks.
FILLER = st.text(alphabet="aeiou ", max_size=700)
BREAKS = st.sampled_from(["\n", "\r\n", "\n\n   \n", "\n\t", " \n  ", ""])
PIECES = st.one_of(
    FILLER,
    BREAKS,
    st.builds(_secret, st.sampled_from(FAMILIES), st.integers(0, 2**32)),
)


# The same 300 examples on every CI run (derandomized), so CI goes red on a change, not
# on a new random draw; REDACTION_EXAMPLES=N makes a local hunt of N random examples
# (tests/redaction/hunt.py).
@property_settings(300)
@given(st.lists(PIECES, max_size=12))
def test_windows_find_what_the_whole_text_holds(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact(text) == _reference(text)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("gap", [0, 1, 2, 100, 250, 255, 256, 257, 300])
def test_a_secret_at_a_window_edge_is_redacted_whole(family: str, gap: int) -> None:
    # A prefilter match opens a window; the secret sits after filler of every length
    # around the window's size, on the same line or on the next one.
    sample = SECRETS[family](random.Random(gap))
    for breaker in ("", "\n", "\n\n"):
        before = 'password = "s3cr3t-Pa55word"' + "a" * gap + breaker + " "
        after = "\n" if sample.line else " tail"
        redacted = redact(before + sample.text + after)
        assert redacted == _reference(before + sample.text + after)
        assert redacted.endswith(sample.expected + after)


@pytest.mark.parametrize("length", [300, 5_000, 70_000])
def test_a_secret_longer_than_a_window_is_redacted_whole(length: int) -> None:
    rng = random.Random(length)
    token = "AKCp" + "".join(rng.choice("ABCDEFGHJKabcdefghjk0123456789") for _ in range(length))
    phrase = " ".join("".join(rng.choice("abcdefgh") for _ in range(7)) for _ in range(6))
    value = "".join(rng.choice("ABCDEFGHJKabcdefghjk0123456789") for _ in range(length))
    text = (
        f'token = "{value}"\n' + "a" * 400 + f" {token} " + "e" * 300 + f"\npassword = '{phrase}'\n"
    )
    redacted = redact(text)
    assert redacted == _reference(text)
    for secret in (token, value, phrase):
        assert secret[:8] not in redacted and secret[-8:] not in redacted


def test_secrets_after_the_windows_cover_the_text_are_found() -> None:
    # More than the trial's worth of dense text makes the rest one window; a secret in
    # a long secret-free stretch after it is still found.
    rng = random.Random(7)
    dense = "\n".join(_secret(FAMILIES[n % len(FAMILIES)], n) for n in range(700))
    assert len(dense.encode()) > engine._PREFILTER_TRIAL
    late = _secret("aws_access_key_id", 1)
    text = (
        dense
        + "\n"
        + "aeiou " * 50_000
        + late
        + "\n"
        + "".join(rng.choice("aeiou\n") for _ in range(9))
    )
    redacted = redact(text)
    assert redacted == _reference(text)
    assert late not in redacted


def test_secret_free_text_opens_no_window() -> None:
    rng = random.Random(3)
    words = ["checkout", "customer", "session", "token", "password", "cookie", "page", "order"]
    text = " ".join(rng.choice(words) for _ in range(5_000)).encode()
    assert engine._windows(text) == []
