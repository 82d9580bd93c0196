"""Telling which rule matched from the span alone (``_Group.pick``) agrees with RE2.

The automata search for spans without groups; the rule and its value are then read by
the rule's own pattern in Python's ``re``. The reference is the alternation with its
groups, as RE2 reports it: for every match in every family's samples, in every context,
and in lookalikes and random text, both must name the same rule and the same value.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.redaction.hunt import property_settings
from tests.redaction.secret_factories import CONTEXTS, LOOKALIKES, SECRETS, fits
from webriskops.redaction import engine, pick
from webriskops.redaction.rules import RULES


def _every_match_agrees(data: bytes) -> int:
    """Compare pick with the groups' answer at every match of every automaton."""
    compared = 0
    for group in engine._GROUPS:
        for found in group.regex.finditer(data):
            expected = group.which(found)
            assert group.pick(data, *found.span()) == expected, (data, found.span())
            compared += 1
    return compared


def _samples() -> list[bytes]:
    texts = []
    for family, make in sorted(SECRETS.items()):
        for context in sorted(CONTEXTS):
            if fits(family, context):
                texts.append(CONTEXTS[context](make(random.Random(family))).text.encode())
    for name, make in sorted(LOOKALIKES.items()):
        for context in sorted(CONTEXTS):
            texts.append(CONTEXTS[context](make(random.Random(name))).text.encode())
    return texts


def test_pick_agrees_with_the_groups_on_every_family_and_lookalike() -> None:
    compared = sum(_every_match_agrees(text) for text in _samples())
    assert compared > len(SECRETS) * 5


@property_settings(300)
@given(st.binary(max_size=300), st.sampled_from(sorted(SECRETS)), st.integers(0, 2**32))
def test_pick_agrees_around_noise(noise: bytes, family: str, seed: int) -> None:
    secret = SECRETS[family](random.Random(seed)).text.encode()
    for data in (noise + secret, secret + noise, noise[:7] + secret + noise[7:]):
        _every_match_agrees(data)


@pytest.mark.parametrize("rule", RULES, ids=[rule.kind for rule in RULES])
def test_first_bytes_hold_every_start_of_every_sample(rule) -> None:
    """A rule's first-byte set holds the first byte of each of its matches in the samples."""
    first = pick.first_bytes(pick.python_pattern(rule.pattern))
    compiled = re.compile(pick.python_pattern(rule.pattern))
    for text in _samples():
        for found in compiled.finditer(text):
            if found.end() > found.start():
                assert text[found.start()] in first


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # ``\s`` has no vertical tab in RE2; ``$`` is the end of the text only.
        (rb"a\sb", b"a\x0bb", None),
        (rb"a[\s,]b", b"a\x0bb", None),
        (rb"ab$", b"ab\n", None),
        (rb"ab$", b"ab", (0, 2)),
        (rb"[$a]b", b"$b", (0, 2)),
        (rb"[]$]b", b"$b", (0, 2)),
        (rb"(?m:ab$)", b"ab\nc", (0, 2)),
    ],
)
def test_python_copies_read_as_re2_does(pattern: bytes, text: bytes, expected) -> None:
    found = re.match(pick.python_pattern(pattern), text)
    assert (found.span() if found else None) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (rb"\bghp_", b"g"),
        (rb"(?i:sk)_", b"Ss"),
        (rb"x?y", b"xy"),
        (rb"(?:a|b{0,2})c", b"abc"),
        (rb"[^\x00-\xfe]", b"\xff"),
        (rb"\d", b"0123456789"),
    ],
)
def test_first_bytes(pattern: bytes, expected: bytes) -> None:
    assert pick.first_bytes(pattern) == frozenset(expected)


@pytest.mark.parametrize(
    "rule",
    [rule for rule in RULES if rule.kind in ("generic_secret", "vendor_secret")],
    ids=lambda rule: f"{rule.kind}-{rule.check.__name__}",
)
@pytest.mark.parametrize(
    "example", [b"AKIAIOSFODNN7EXAMPLE", b"sk_live_XXXXXXXXXXXXXXXX", b"your-api-token-here"]
)
def test_checks_of_values_judged_by_name_set_examples_aside(rule, example: bytes) -> None:
    """The scan leaves the example check to these rules' own checks (``_JUDGES_EXAMPLES``)."""
    assert rule.kind in engine._JUDGES_EXAMPLES
    text = b"datadog_api_key = " + example
    assert rule.check(text, len(text) - len(example), len(text), rule.kind) is None
