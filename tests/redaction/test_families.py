"""Every secret family in every context is replaced by its marker; every lookalike is kept.

Samples are generated per family, context and seed (see ``secret_factories``), and the
redacted text is compared with the exact expected text: the secret gone, its marker
naming the kind, and every other character where it was.
"""

from __future__ import annotations

import random

import pytest

from tests.redaction.secret_factories import CONTEXTS, LOOKALIKES, SECRETS, fits
from webriskops.redaction import RULES, redact

SECRET_SEEDS = range(3)
LOOKALIKE_SEEDS = range(10)


@pytest.mark.parametrize("seed", SECRET_SEEDS)
@pytest.mark.parametrize(
    ("family", "context"),
    [(family, context) for family in SECRETS for context in CONTEXTS if fits(family, context)],
)
def test_secret_is_replaced_by_its_marker(family: str, context: str, seed: int) -> None:
    sample = CONTEXTS[context](SECRETS[family](random.Random(f"{family}-{seed}")))

    redacted = redact(sample.text)

    for secret in sample.secrets:
        assert secret not in redacted
    assert redacted == sample.expected


@pytest.mark.parametrize("seed", LOOKALIKE_SEEDS)
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_lookalike_is_kept(lookalike: str, context: str, seed: int) -> None:
    sample = CONTEXTS[context](LOOKALIKES[lookalike](random.Random(f"{lookalike}-{seed}")))
    assert not sample.secrets

    assert redact(sample.text) == sample.text


def test_the_negative_set_is_at_least_as_large_as_the_positive_set() -> None:
    assert len(LOOKALIKES) * len(LOOKALIKE_SEEDS) >= len(SECRETS) * len(SECRET_SEEDS)


def test_at_least_45_families_are_covered() -> None:
    kinds = {
        part.kind
        for make in SECRETS.values()
        for seed in SECRET_SEEDS
        for part in make(random.Random(seed)).parts
        if part.kind
    }
    assert len(kinds) >= 45
    assert len(RULES) >= 45


@pytest.mark.parametrize("family", SECRETS)
def test_redaction_is_idempotent(family: str) -> None:
    text = CONTEXTS["console"](SECRETS[family](random.Random(family))).text
    once = redact(text)
    assert redact(once) == once


FAMILY_NAMES = sorted(SECRETS)


@pytest.mark.parametrize("step", [1, 7, 31])
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_two_glued_families_are_redacted_idempotently(family: str, step: int) -> None:
    # A secret glued to the next one: the first round's markers change what the rules
    # see next to them, and one more round must change nothing.
    following = FAMILY_NAMES[(FAMILY_NAMES.index(family) + step) % len(FAMILY_NAMES)]
    text = SECRETS[family](random.Random(step)).text + SECRETS[following](random.Random(0)).text
    once = redact(text)
    assert redact(once) == once
