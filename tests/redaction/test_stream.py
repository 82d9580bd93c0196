"""Redaction a piece at a time gives what redaction of the whole text gives."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tests.redaction.secret_factories import SECRETS
from tests.redaction.test_properties import FAMILIES, PROPERTY, SAFE_TEXT, SEEDS
from webriskops.redaction import Redactor
from webriskops.redaction.stream import redact_pieces

REDACTOR = Redactor()
SEPARATORS = st.sampled_from(["\n", ">", " ", "\n\n", "<p>", "; "])
# Filler that the engine keeps: it pushes secrets across the cuts of small pieces.
FILLER = st.builds(lambda n, s: s * n, st.integers(0, 400), st.sampled_from(["a ", "<b>\n", "é"]))


def streamed(text: bytes, chunk: int, piece: int, context: int) -> bytes:
    chunks = (text[at : at + chunk] for at in range(0, len(text), chunk))
    pieces = list(redact_pieces(REDACTOR.redact_bytes, chunks, piece=piece, context=context))
    assert b"".join(original for original, _ in pieces) == text  # nothing lost or repeated
    return b"".join(redacted for _, redacted in pieces)


@PROPERTY
@given(
    st.lists(
        st.one_of(
            SAFE_TEXT,
            SEPARATORS,
            FILLER,
            st.builds(lambda f, s: SECRETS[f](random.Random(s)).text, FAMILIES, SEEDS),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=1, max_value=5000),
    st.integers(min_value=1, max_value=3000),
)
def test_pieces_redact_like_the_whole(parts: list[str], chunk: int, piece: int) -> None:
    # Pieces no longer than the secrets, so cuts fall inside them all the time; the
    # context covers every secret the factories make (2.9 kB at most).
    text = "".join(parts).encode()
    assert streamed(text, chunk, piece, context=3072) == REDACTOR.redact_bytes(text)


def test_a_private_key_across_many_candidate_cuts_is_redacted_whole() -> None:
    key = SECRETS["rsa_private_key"](random.Random(7))
    # The key starts 5,600 bytes in: the first candidate cut (at 6,000) is inside it.
    text = ("<p>filler</p>\n" * 400 + key.text + "\n<p>after</p>\n" * 2000).encode()
    result = streamed(text, chunk=1000, piece=6000, context=4096)
    assert result == REDACTOR.redact_bytes(text)
    for secret in key.secrets:
        assert secret.encode() not in result


def test_a_text_without_cut_candidates_is_one_piece() -> None:
    text = b"x" * 50_000
    pieces = list(redact_pieces(REDACTOR.redact_bytes, [text], piece=1000, context=2000))
    assert [original for original, _ in pieces] == [text]
