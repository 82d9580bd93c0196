"""Led automata: matched only where one of their literals is, they find what a search finds.

Most rules start with a literal of their own (``ghp_``, ``AKIA``, ``-----BEGIN``). Their
automata are not run over the text: Hyperscan finds every occurrence of those literals
and RE2 matches the automaton anchored there (``engine._Leads``). That is only right if
every match of such a rule starts with one of its literals (``pick.leading_literals``),
and if every occurrence is found, also one inside another and one whose case RE2 folds
beyond ASCII. The reference is the same engine with every automaton searched.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.redaction.hunt import property_settings
from tests.redaction.secret_factories import CONTEXTS, LOOKALIKES, SECRETS, fits
from webriskops.redaction import Redactor, engine, pick, redact
from webriskops.redaction.rules import RULES

LED = [rule for rule in RULES if engine._rule_leads(rule) is not None]


class _SearchEverything(dict):
    """What ``_Leads.starts`` gives when no automaton is to be matched by its leads."""

    def get(self, key, default=None):
        return None


@contextmanager
def _searched() -> Iterator[None]:
    with mock.patch.object(engine._LEADS, "starts", lambda data, windows: _SearchEverything()):
        yield


def _reference(text: str) -> str:
    with _searched():
        return Redactor().redact(text)


def _starts_with_a_lead(text: bytes, leads: frozenset[tuple[bytes, bool]]) -> bool:
    return any(
        text.lower().startswith(lead.lower()) if folded else text.startswith(lead)
        for lead, folded in leads
    )


def _holds_a_lead(text: bytes, at: int, rule) -> bool:
    """Whether a lead of ``rule`` starts within its reach of ``at``."""
    leads, reach = engine._rule_leads(rule)
    return any(_starts_with_a_lead(text[at + offset :], leads) for offset in range(reach + 1))


def _samples() -> list[str]:
    texts = []
    for family, make in sorted(SECRETS.items()):
        for context in sorted(CONTEXTS):
            if fits(family, context):
                for seed in range(3):
                    texts.append(CONTEXTS[context](make(random.Random(f"{family}{seed}"))).text)
    for name, make in sorted(LOOKALIKES.items()):
        for context in sorted(CONTEXTS):
            texts.append(CONTEXTS[context](make(random.Random(name))).text)
    return texts


SAMPLES = _samples()


def test_most_families_are_led() -> None:
    """The design's point: on dense text most automata are not run over every byte."""
    led_groups = [group for group in engine._GROUPS if group.leads is not None]
    assert len(LED) >= 60
    assert len(led_groups) >= len(engine._GROUPS) // 2


@pytest.mark.parametrize("rule", LED, ids=[rule.kind for rule in LED])
def test_every_match_of_a_led_rule_holds_a_lead(rule) -> None:
    compiled = re.compile(pick.python_pattern(rule.pattern))
    matched = 0
    for text in SAMPLES:
        data = text.encode()
        for found in compiled.finditer(data):
            matched += 1
            assert _holds_a_lead(data, found.start(), rule), (rule.kind, found)
    assert matched, f"no sample matches {rule.kind}"


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(st.data())
def test_generated_matches_of_led_rules_hold_a_lead(data) -> None:
    """Strings generated from a led rule's own pattern hold one of its leads in reach."""
    rule = data.draw(st.sampled_from(LED))
    text = data.draw(st.from_regex(pick.python_pattern(rule.pattern), fullmatch=True))
    found = re.compile(pick.python_pattern(rule.pattern)).match(text)
    assert found is not None
    assert _holds_a_lead(text, found.start(), rule)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (rb"\bghp_[A-Za-z0-9]{36}", {(b"ghp_", False)}),
        (
            rb"\b(gh[pousr]_x)",
            {
                (b"ghp_x", False),
                (b"gho_x", False),
                (b"ghu_x", False),
                (b"ghs_x", False),
                (b"ghr_x", False),
            },
        ),
        (rb"(?i:sk)_live", {(b"sk_live", True)}),
        (rb"\\{0,1}\"auth", {(b'"auth', False), (b'\\"auth', False)}),
        (rb"(?:set-)?cookie", {(b"set-cookie", False), (b"cookie", False)}),
        (rb"EAA[A-Za-z0-9]{90,}", {(b"EAA", False)}),
        (rb"[A-Za-z0-9]{14}\.atlasv1", None),
        (rb"(?:^|[^a-z])x", None),
        (rb"a?bc", {(b"abc", False), (b"bc", False)}),
        (rb"x*yz", None),
    ],
)
def test_leading_literals(pattern: bytes, expected) -> None:
    leads = pick.leading_literals(pattern)
    assert (None if leads is None else set(leads)) == expected


def test_families_and_lookalikes_in_every_context_read_as_searched() -> None:
    for text in SAMPLES:
        assert redact(text) == _reference(text), text


@property_settings(200)
@given(
    st.binary(max_size=200),
    st.lists(st.sampled_from(sorted(SECRETS)), max_size=4),
    st.integers(0, 2**32),
)
def test_secrets_among_noise_read_as_searched(noise: bytes, families, seed: int) -> None:
    rng = random.Random(seed)
    pieces = [SECRETS[family](rng).text for family in families]
    filler = noise.decode("latin-1")
    text = filler[:50].join(pieces) + filler[50:]
    assert redact(text) == _reference(text)


def test_a_lead_inside_another_is_found() -> None:
    """Hyperscan reports every occurrence: ``eyJ`` starts inside ``ops_eyJ``."""
    data = b"x ops_eyJhbGciOiJIUzI1NiJ9 y"
    starts = engine._LEADS.starts(data, [(0, len(data))])
    found = {start for found in starts.values() for start, _ in found}
    assert {2, 6} <= found
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
    text = f"value=ops_{jwt}"
    assert redact(text) == _reference(text)


@pytest.mark.parametrize(
    "text",
    [
        # RE2 folds ``s`` to the long s and ``k`` to the Kelvin sign under ``(?i:…)``.
        "Authorization: \u017f\u017fW\u017f 00" + "a1B2" * 10 + " end",
        "\u017fSWS 00" + "Zz09_-" * 7 + "x\n",
        "APP_\u212aEY=base64:" + "QUJD" * 9 + "\n",
        "BUNDLE_ENTERPRI\u017fE__CONTRIB\u017fY\u017f__COM=user:" + "ab12" * 6 + "\n",
    ],
)
def test_case_folded_beyond_ascii_reads_as_searched(text: str) -> None:
    assert redact(text) == _reference(text)


def test_concurrent_redaction_in_threads_gives_the_same_text() -> None:
    """Hyperscan's scratch space is one per thread (the web tier runs threads)."""
    texts = [SAMPLES[i % len(SAMPLES)] * 20 for i in range(0, 4 * len(SAMPLES), 7)][:64]
    expected = [redact(text) for text in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(redact, texts)) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (rb"\bghp_[A-Za-z0-9]{36}\b", True),
        (rb"\b((?:AKIA|ASIA)[A-Z0-9]{16})\b", True),
        (rb"EAA[A-Za-z0-9]{90,}", False),  # unbounded: RE2 matches it
        (rb"x(?:ab|a){1,20}y", False),  # an alternation repeated
        (rb"x(?:a{1,3}){1,20}", False),  # a repeat repeated
        (rb"x(?:a{1,3})?y", True),  # optional, not repeated
        (rb"x[a-z]{600}", False),  # longer than a read may be
    ],
)
def test_reads_at(pattern: bytes, expected: bool) -> None:
    """Python's ``re`` reads a match from a lead only where it cannot backtrack far."""
    assert pick.reads_at(pattern) is expected


def test_read_groups_hold_only_rules_python_may_read() -> None:
    read = [group for group in engine._GROUPS if group.reads]
    assert read, "no automaton is read from its leads"
    for group in read:
        for rule, _, _ in group.outer.values():
            assert pick.reads_at(pick.python_pattern(rule.pattern)), rule.kind


def _any(text: bytes, folded: bool) -> bool:
    return len(text) >= 3


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (rb"\b([A-Za-z0-9]{14}\.atlasv1\.[a-z]{60})", ({(b".atlasv1.", False)}, 14)),
        (rb"\b([0-9]{8,10}:AA[a-z]{33})", ({(b":AA", False)}, 10)),
        (rb"(?m:^[ \t]{0,16}kind:)|\"kind\"", ({(b"kind:", False), (b'"kind"', False)}, 16)),
        (rb"[a-z]+\.atlasv1", None),  # no bound on where the literal is
        (rb"[a-z]{70}\.atlasv1", None),  # too far in to look back for
    ],
)
def test_inner_literals(pattern: bytes, expected) -> None:
    found = pick.inner_literals(pattern, _any)
    assert (None if found is None else (set(found[0]), found[1])) == expected


def test_windows_around_inner_literals_hold_their_matches() -> None:
    """A Terraform token is found from its ``.atlasv1.``, 14 bytes in."""
    token = "Ab3dEf6hIj9lMn.atlasv1." + "Qz7-Lm2_Wp9=" * 5 + "Rt4v"
    text = "noise " * 50 + f"TF_TOKEN={token}\n" + "more noise\n" * 40
    assert token not in redact(text)
    assert redact(text) == _reference(text)
    data = text.encode()
    at = data.index(b".atlasv1.")
    (window,) = engine._around(data, [(at, len(data))], 14)
    assert window[0] == at - 14
    assert window[1] > data.index(token.encode()) + len(token)
