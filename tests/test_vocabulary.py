"""The domain's words live in one module; nothing else spells them out again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webriskops import vocabulary
from webriskops.vocabulary import SEVERITIES, Severity, parse_retry_after, risk_score

PACKAGE = Path(vocabulary.__file__).parent


def test_severities_carry_weight_and_rank_most_severe_first():
    assert SEVERITIES == ("high", "medium", "low", "info")
    assert [severity.weight for severity in Severity] == [10, 4, 1, 0]
    assert sorted(Severity, key=lambda severity: severity.rank) == list(Severity)
    assert Severity("medium") is Severity.MEDIUM and Severity.MEDIUM == "medium"


@pytest.mark.parametrize(
    ("counts", "score"), [((0, 0, 0), 0), ((1, 2, 3), 21), ((9, 3, 0), 100), ((0, 0, 250), 100)]
)
def test_risk_score_weighs_severities_and_is_capped(counts, score):
    assert risk_score(*counts) == score


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 80.0),
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past: now
        ("Wed, 21 Oct 2015 07:28:00 -0000", None),  # no zone known: not an HTTP date
        ("soon", None),
        ("²", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value, seconds):
    assert parse_retry_after(value, now=1445412400) == seconds


# A copy of the domain's words somewhere else: the severity list or weights, the
# category list, the int64 ceiling.
COPIES = re.compile(
    r"""["']high["'],\s*["']medium["'],\s*["']low["']"""
    r"""|["']high["']:\s*\d"""
    r"""|["']security["'],\s*["']privacy["'],\s*["']compliance["']"""
    r"""|2\s*\*\*\s*63|9223372036854775807"""
)


def test_no_module_spells_the_vocabulary_out_again():
    copies = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "vocabulary.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COPIES.search(line)
    ]
    assert copies == []
