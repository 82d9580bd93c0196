"""Redaction of objects too large to hold whole: pieces cut where no secret spans the cut.

A snapshot is read in chunks and redacted a piece (``PIECE`` bytes or a little more) at
a time, so the memory used stays near one piece whatever the object's size. A piece
ends right after a line break or a ``>`` (ASCII: a cut never splits a UTF-8 character),
and only where the cut is *independent*: redacting the ``CONTEXT`` bytes on each side
of it apart gives the same bytes as redacting them together. Every construct the engine
reads across is shorter than ``CONTEXT`` (a private key block, a Kubernetes manifest and
a cookie header are bounded at 16 kB), so a secret that crosses a candidate cut changes
the result and the cut moves on. A cut that fails is not retried byte by byte: the next
candidate is looked for ``CONTEXT // 4`` further on, so a long secret costs a few checks.

What is not guaranteed: a single value longer than ``CONTEXT`` that starts before a cut
and whose name lies more than ``CONTEXT`` before it (both windows see only its middle).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

PIECE = 4 << 20
CONTEXT = 64 << 10
_CANDIDATE = re.compile(rb"[\n>]")


def redact_pieces(
    redact: Callable[[bytes], bytes],
    chunks: Iterable[bytes],
    *,
    piece: int = PIECE,
    context: int = CONTEXT,
) -> Iterator[tuple[bytes, bytes]]:
    """Each piece of the concatenated ``chunks`` and its redaction, in order.

    ``redact`` redacts one piece; joined, the redactions are what ``redact`` gives the
    whole text (see the module's docstring for the one exception).
    """
    buffer = bytearray()
    tried_to = piece  # candidates before this offset of the buffer failed already
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= tried_to + context:
            cut, tried_to = _find_cut(redact, buffer, tried_to, context)
            if cut is None:
                break
            part = bytes(buffer[:cut])
            del buffer[:cut]
            tried_to = piece
            yield part, redact(part)
    if buffer:
        part = bytes(buffer)
        yield part, redact(part)


def _find_cut(
    redact: Callable[[bytes], bytes], buffer: bytearray, start: int, context: int
) -> tuple[int | None, int]:
    """The first independent cut at or after ``start``, or None and where to go on from."""
    at = start
    while at + context <= len(buffer):
        found = _CANDIDATE.search(buffer, at, len(buffer) - context)
        if found is None:
            return None, max(start, len(buffer) - context)
        cut = found.end()
        if _independent(redact, buffer, cut, context):
            return cut, cut
        at = cut + context // 4
    return None, at


def _independent(
    redact: Callable[[bytes], bytes], buffer: bytearray, cut: int, context: int
) -> bool:
    """Whether the text on either side of ``cut`` redacts the same apart as together."""
    start = max(0, cut - context)
    while start < cut and buffer[start] & 0xC0 == 0x80:  # not inside a UTF-8 character
        start += 1
    end = min(len(buffer), cut + context)
    while end > cut and end < len(buffer) and buffer[end] & 0xC0 == 0x80:
        end -= 1
    left, right = bytes(buffer[start:cut]), bytes(buffer[cut:end])
    return redact(left) + redact(right) == redact(left + right)
