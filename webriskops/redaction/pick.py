"""Which rule of an automaton matched, without asking RE2 for its groups.

An automaton's alternation finds a match's span with its DFAs alone when it captures
nothing; with groups, RE2 runs its submatch engine over every span, which on
secret-dense text was more than half the time of redaction. So the automata search for
spans, and the rule is told afterwards: of the rules that can start with the span's
first byte, in their order, the first whose own pattern matches there is the one the
alternation chose (leftmost-first), and its pattern's group is the value.

The rules' own patterns run with Python's ``re`` on a span RE2 has already bounded:
for one rule on a short span it costs a tenth of a call into RE2. The two engines differ
in two places the patterns use, so the copies are written to read as RE2 does: ``\\s``
holds no vertical tab and ``$`` is the end of the text only. The caller still checks
that the chosen rule ends where the automaton's match did, and asks RE2 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# The standard library's regex parser is the one way to read a pattern's structure; it
# is private (``sre_parse`` until Python 3.11), so without it every byte may start
# every rule: picking is then slower, never wrong. tests/redaction/test_rule_choice.py
# checks the sets it gives on every rule.
try:
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - a Python that moved its parser again
    sre_constants = sre_parse = None

_ALL = frozenset(range(256))
_WHITE = rb"\t\n\f\r "


def python_pattern(pattern: bytes) -> bytes:
    """``pattern`` (RE2 syntax) with ``\\s`` and ``$`` spelled as RE2 reads them."""
    out = bytearray()
    in_class = False
    class_first = at = 0
    multiline = b"(?m" in pattern  # ``$`` inside ``(?m:…)`` is a line end in both
    while at < len(pattern):
        byte = pattern[at : at + 1]
        if byte == b"\\":
            escape = pattern[at : at + 2]
            if escape == b"\\s":
                out += _WHITE if in_class else b"[" + _WHITE + b"]"
            else:
                out += escape
            at += 2
            continue
        if in_class:
            # ``]`` first in a class (``[]…]``, ``[^]…]``) is a member, not its end.
            if byte == b"]" and at > class_first:
                in_class = False
        elif byte == b"[":
            in_class = True
            class_first = at + (2 if pattern[at + 1 : at + 2] == b"^" else 1)
        elif byte == b"$" and not multiline:
            out += rb"\Z"
            at += 1
            continue
        out += byte
        at += 1
    return bytes(out)


def first_bytes(pattern: bytes) -> frozenset[int]:
    """Every byte a match of ``pattern`` may start with (more is safe, fewer is not)."""
    if sre_parse is None:  # pragma: no cover
        return _ALL
    parsed = sre_parse.parse(pattern)
    first, _ = _sequence(list(parsed), bool(parsed.state.flags & re.IGNORECASE))
    return frozenset(first)


def _sequence(items: list, ignore_case: bool) -> tuple[set[int], bool]:
    """The first bytes of a sequence of items, and whether it can match empty."""
    first: set[int] = set()
    for op, argument in items:
        item_first, nullable = _item(op, argument, ignore_case)
        first |= item_first
        if not nullable:
            return first, False
    return first, True


def _item(op, argument, ignore_case: bool) -> tuple[set[int], bool]:  # noqa: PLR0911
    constants = sre_constants
    if op is constants.LITERAL:
        return _cased({argument}, ignore_case), False
    if op is constants.NOT_LITERAL:
        return set(_ALL - _cased({argument}, ignore_case)), False
    if op is constants.ANY:
        return set(_ALL - {ord("\n")}), False
    if op is constants.IN:
        return _class(argument, ignore_case), False
    if op is constants.AT:
        return set(), True  # an assertion takes no byte
    if op is constants.BRANCH:
        first: set[int] = set()
        nullable = False
        for branch in argument[1]:
            branch_first, branch_nullable = _sequence(list(branch), ignore_case)
            first |= branch_first
            nullable = nullable or branch_nullable
        return first, nullable
    if op is constants.SUBPATTERN:
        _, add_flags, del_flags, body = argument
        cased = (ignore_case or bool(add_flags & re.IGNORECASE)) and not (del_flags & re.IGNORECASE)
        return _sequence(list(body), cased)
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
        low, _, body = argument
        body_first, body_nullable = _sequence(list(body), ignore_case)
        return body_first, body_nullable or low == 0
    # Anything else (lookarounds, back references): say every byte, which is safe.
    return set(_ALL), True


def _class(members: list, ignore_case: bool) -> set[int]:
    constants = sre_constants
    chosen: set[int] = set()
    negate = False
    for op, argument in members:
        if op is constants.NEGATE:
            negate = True
        elif op is constants.LITERAL:
            chosen.add(argument)
        elif op is constants.RANGE:
            chosen.update(range(argument[0], argument[1] + 1))
        elif op is constants.CATEGORY:
            chosen |= _category(argument)
        else:
            return set(_ALL)
    chosen = _cased(chosen, ignore_case)
    return set(_ALL - chosen) if negate else chosen


def _category(category) -> set[int]:
    constants = sre_constants
    digits = set(range(ord("0"), ord("9") + 1))
    word = digits | set(range(65, 91)) | set(range(97, 123)) | {ord("_")}
    space = set(b" \t\n\r\f\v")
    table = {
        constants.CATEGORY_DIGIT: digits,
        constants.CATEGORY_NOT_DIGIT: _ALL - digits,
        constants.CATEGORY_WORD: word,
        constants.CATEGORY_NOT_WORD: _ALL - word,
        constants.CATEGORY_SPACE: space,
        constants.CATEGORY_NOT_SPACE: _ALL - space,
    }
    return set(table.get(category, _ALL))


def _cased(codes: set[int], ignore_case: bool) -> set[int]:
    if not ignore_case:
        return set(codes)
    return codes | {code ^ 0x20 for code in codes if chr(code).isascii() and chr(code).isalpha()}


# The most literals a pattern's start is spelled out as; past it, the pattern is
# searched by its automaton instead (``leading_literals`` gives None).
_MAX_LEADS = 256
# Classes this small are spelled out member by member (``gh[pousr]_``).
_MAX_CLASS = 16
# Counted repeats up to this many are spelled out count by count (``\\{0,2}"auth``).
_MAX_COUNT = 3
# A lead this long is not spelled out further where the pattern branches: a longer one
# would only multiply the literals.
_LONG_ENOUGH = 4
# The farthest a literal looked for inside a match may be from its start (``inner_literals``).
_MAX_WIDTH_BEFORE = 64


def leading_literals(pattern: bytes) -> frozenset[tuple[bytes, bool]] | None:
    """Literals one of which starts every match of ``pattern``, or None.

    Each is ``(text, ignore_case)``. Zero-width assertions (``\\b``, ``^``) take no byte,
    so they are passed over. None when some match may start with no literal (a class of
    many bytes, an unbounded repeat): the pattern must then be searched for. A literal
    with a case-insensitive part is case-insensitive whole, which only finds more.
    """
    if sre_parse is None:  # pragma: no cover
        return None
    parsed = sre_parse.parse(pattern)
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    leads = _lead_sequence(list(parsed), [(b"", False, True)], ignore_case)
    if leads is None or any(not text for text, _, _ in leads):
        return None
    return frozenset((text, folded) for text, folded, _ in leads)


# A lead in the making: its text, whether case is ignored, and whether the pattern's
# next item still follows it (False once an item could not be spelled out).
_Lead = tuple[bytes, bool, bool]


def _lead_sequence(items: list, leads: list[_Lead], ignore_case: bool) -> list[_Lead] | None:
    """``leads`` extended by each item of a sequence in turn; None past ``_MAX_LEADS``."""
    for op, argument in items:
        if not any(open_ for _, _, open_ in leads):
            break
        pieces = _lead_item(op, argument, ignore_case)
        extended: list[_Lead] = []
        for text, folded, open_ in leads:
            if not open_ or pieces is None or (len(pieces) > 1 and len(text) >= _LONG_ENOUGH):
                extended.append((text, folded, False))
            else:
                extended.extend(
                    (text + piece, folded or piece_folded, piece_open)
                    for piece, piece_folded, piece_open in pieces
                )
        if len(extended) > _MAX_LEADS:
            return None
        leads = extended
    return leads


def _lead_item(op, argument, ignore_case: bool) -> list[_Lead] | None:  # noqa: PLR0911
    """The literals one item may match, each still followed by the next: None if unknown."""
    constants = sre_constants
    if op is constants.AT:
        return [(b"", False, True)]
    if op is constants.LITERAL:
        return [(bytes([argument]), ignore_case, True)]
    if op is constants.IN:
        members = _class(argument, False)
        if len(members) > _MAX_CLASS:
            return None
        return [(bytes([member]), ignore_case, True) for member in sorted(members)]
    if op is constants.SUBPATTERN:
        _, add_flags, del_flags, body = argument
        cased = (ignore_case or bool(add_flags & re.IGNORECASE)) and not (del_flags & re.IGNORECASE)
        return _lead_sequence(list(body), [(b"", False, True)], cased)
    if op is constants.BRANCH:
        found: list[_Lead] = []
        for branch in argument[1]:
            leads = _lead_sequence(list(branch), [(b"", False, True)], ignore_case)
            if leads is None:
                return None
            found.extend(leads)
        return found
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
        low, high, body = argument
        if high > _MAX_COUNT:
            # The sure repeats of a literal are spelled out (``A{22}``), of anything else
            # only the first (``SK[0-9a-f]{32}`` leads with ``SK0`` to ``SKf``); what
            # follows them is not.
            literal = all(item_op is constants.LITERAL for item_op, _ in body)
            count = low if literal else min(low, 1)
            leads = _lead_sequence(list(body) * count, [(b"", False, True)], ignore_case)
            return None if leads is None else [(text, folded, False) for text, folded, _ in leads]
        found = []
        for count in range(low, high + 1):
            leads = _lead_sequence(list(body) * count, [(b"", False, True)], ignore_case)
            if leads is None:
                return None
            found.extend(leads)
        return found
    return None


# The longest match a pattern read by Python's ``re`` from a lead may have (``reads_at``).
MAX_WIDTH = 512


def reads_at(pattern: bytes) -> bool:
    """Whether Python's ``re`` may match ``pattern`` anchored, in place of RE2.

    True when every match is at most ``MAX_WIDTH`` bytes and no repeat holds another
    repeat or an alternation: then no input makes one anchored match backtrack more
    than a bounded number of steps, and the engine's time stays linear.
    """
    if sre_parse is None:  # pragma: no cover
        return False
    parsed = sre_parse.parse(pattern)
    return parsed.getwidth()[1] <= MAX_WIDTH and not _nested(list(parsed), inside=False)


def _nested(items: list, inside: bool) -> bool:
    """Whether a repeat of more than one holds a repeat or an alternation."""
    constants = sre_constants
    for op, argument in items:
        if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
            low, high, body = argument
            if inside or _nested(list(body), inside=high > 1):
                return True
        elif op is constants.SUBPATTERN:
            if _nested(list(argument[3]), inside):
                return True
        elif op is constants.BRANCH:
            if inside or any(_nested(list(branch), inside) for branch in argument[1]):
                return True
        elif op in (constants.ASSERT, constants.ASSERT_NOT):
            return True
    return False


def inner_literals(
    pattern: bytes, distinctive: Callable[[bytes, bool], bool]
) -> tuple[frozenset[tuple[bytes, bool]], int] | None:
    """Literals one of which every match holds within a bounded distance of its start.

    Gives the literals (as ``leading_literals``) and the greatest distance from a match's
    start to the literal it holds, or None. The first place in the pattern (its top-level
    sequence, capturing groups opened, and each alternative of a top-level alternation
    alone) whose rest leads with ``distinctive`` literals, and before which every match
    is of bounded length, is taken: ``[A-Za-z0-9]{14}\\.atlasv1\\.`` holds ``.atlasv1.``
    at most 14 bytes in.
    """
    if sre_parse is None:  # pragma: no cover
        return None
    parsed = sre_parse.parse(pattern)
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    items = _opened(list(parsed))
    if len(items) == 1 and items[0][0] is sre_constants.BRANCH:
        branches = [_opened(list(branch)) for branch in items[0][1][1]]
    else:
        branches = [items]
    found: set[tuple[bytes, bool]] = set()
    furthest = 0
    for branch in branches:
        inner = _inner_sequence(branch, ignore_case, distinctive)
        if inner is None:
            return None
        found |= inner[0]
        furthest = max(furthest, inner[1])
    return frozenset(found), furthest


def _opened(items: list) -> list:
    """A sequence with its groups opened in place, but those that change case."""
    opened = []
    for op, argument in items:
        if op is sre_constants.SUBPATTERN and not (argument[1] | argument[2]) & re.IGNORECASE:
            opened.extend(_opened(list(argument[3])))
        else:
            opened.append((op, argument))
    return opened


def _inner_sequence(
    items: list, ignore_case: bool, distinctive: Callable[[bytes, bool], bool]
) -> tuple[frozenset[tuple[bytes, bool]], int] | None:
    """The first distinctive leads of a suffix of ``items``, and the prefix's longest width."""
    for at in range(len(items)):
        prefix = sre_parse.SubPattern(sre_parse.State(), items[:at])
        longest = prefix.getwidth()[1]
        if longest > _MAX_WIDTH_BEFORE:
            return None
        leads = _lead_sequence(items[at:], [(b"", False, True)], ignore_case)
        if leads and all(text and distinctive(text, folded) for text, folded, _ in leads):
            return frozenset((text, folded) for text, folded, _ in leads), longest
    return None
