"""The scan: a few RE2 automata over the text, then checks on candidates.

The rule patterns are joined, 10 at a time, into alternations compiled once with
RE2, whose automata run in time linear in the text whatever the patterns are, so no
input can make redaction super-linear (one alternation of every rule made RE2 build
DFA states for seconds on each new megabyte of secret-dense text). The text is scanned
as UTF-8 bytes: offsets are native and no character counting is needed. A prefilter
automaton (every rule with its counted runs cut down) finds the windows where a rule
may match. Most rules start with literals of their own (``ghp_``): their automata are
matched only from those literals, which Hyperscan finds all at once (``_Leads``); the
others search the windows, for spans alone, and the rule that matched is then told by
the rules' own patterns (``pick``). Candidates go
through their rule's check; accepted spans from every automaton are joined and replaced
by ``[REDACTED:<kind>]``, and the text around them is kept. A token glued to the end
of a redacted one is taken in the same pass; when a marker touches a token character
the text is scanned again until nothing changes, so redacting twice changes nothing.
Private keys, cookie headers and Kubernetes Secret manifests are matched by their
start; the engine finds their end with a bounded search, so no input makes the scan
quadratic. ``Redactor`` adds the literal scanner secrets, a by-name pass over URL
parameters, and per-header rules.
"""

from __future__ import annotations

import bisect
import functools
import html
import itertools
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import hyperscan
import re2

from webriskops.redaction import checks, pick
from webriskops.redaction.rules import OPERATOR, RULES, Rule

_PEM_END = re.compile(rb"-----END[ A-Z0-9]{0,24}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(rb"(?:[A-Za-z0-9+/=:\s,\-]|\\n|\\r)*")
# A PEM block is at most this long (an RSA 8192 key is about 6.5 kB); bounding the
# search for its end keeps a text full of unterminated headers linear.
_PEM_MAX = 16_384
# A cookie header ends with its line, or where a quote or backslash shows it was quoted
# in code or a JSON string; bounded like a PEM block (servers refuse longer headers).
_COOKIE_END = re.compile(rb"[\r\n\"\\<>]")
_COOKIE_MAX = 16_384
# A pair starts the header, follows ``;`` (or ``,`` between Set-Cookie values), or
# follows another cookie header's name on the same line (headers logged in one line).
_COOKIE_PAIR = re.compile(
    rb"(?:^|;|,(?=\s*[^\s=;,]+=)|(?i:\b(?:set-)?cookie)\s{0,2}:)\s*([^\s=;,]+)=([^;,\r\n]*)"
)
_COOKIE_ATTRIBUTES = frozenset(
    b"path domain expires max-age samesite secure httponly priority partitioned version".split()
)
_SENSITIVE_HEADER = re.compile(r"(?i)key|token|secret|session|passw|credential|signature|auth")
# In a URL, any parameter named like a secret is redacted, also names the text rules
# leave alone because in prose or code they would be too broad (``sessionKey``).
_URL_PARAM = re.compile(r"([?&;#])([^=&;#?\s]{1,128})=([^&;#?\s]*)")
_URL_SECRET_NAME = re.compile(
    r"(?i)token|secret|passw|pwd|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|"
    r"client[_\-]?key|credential|signature|session|sessid|jwt|ticket|otp|^sig$|^key$|^code$|"
    r"^auth(?:_?code)?$|^sid$|^pass$"
)
_CHALLENGE_HEADERS = frozenset({"www-authenticate", "proxy-authenticate"})

MIN_LITERAL = 8
# Every kind a marker can name: a literal secret that is part of a marker would match
# the marker it was replaced by, and redacting twice would change the text again.
KINDS = (
    frozenset(rule.kind for rule in RULES)
    | checks.VENDOR_KINDS
    | {
        "authorization",
        "connection_string_password",
        "cookie",
        "github_app_token",
        "github_oauth_token",
        "github_refresh_token",
        "docker_registry_auth",
        "jwt",
        "header_secret",
        "password",
        "pgp_private_key",
        "scanner_secret",
        "stripe_restricted_key",
    }
)
_MAX_ROUNDS = 4
# Rules per automaton. One automaton for every rule multiplies the states of rules
# active at once (a value being counted by one rule while another counts a name): on
# dense text RE2 then spends seconds building DFA states for each new megabyte. Each
# automaton costs about 2 ms per MB of text it reads, a little more the bigger it is.
# 10 takes the first pass over a new dense megabyte from 1.1-1.3 s (20 rules) to about
# 0.65 s, and warm dense text is as fast (figures in docs/redaction.md).
_GROUP_SIZE = 10
# Searched rules that get an automaton of their own: a URL's scheme, counted from every
# word start, multiplies the states of the others' counted runs. Apart, the two passes
# over a dense MB cost 3.6 ms instead of 4.4 for one (docs/redaction.md).
_SEARCHED_ALONE = frozenset({"url_password"})
# Bytes that make ``\b`` fail between two glued tokens.
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# The longest token looked for right after another one; slicing this much per glued
# token keeps the extra work per redacted secret constant.
_GLUE_WINDOW = 1024
# Kinds named by where a value sits rather than by what it is: when a family matches
# exactly the same span, the family names the marker (``token=ghp_…`` is a GitHub token).
_BY_PLACE = frozenset(
    {
        "authorization",
        "basic_auth",
        "bearer_token",
        "connection_string_password",
        "cookie",
        "generic_secret",
        "password",
        "query_secret",
        "url_password",
    }
)


# Rules whose values are judged by the name they are assigned to.
_JUDGED_BY_NAME = frozenset({"generic_secret", "vendor_secret"})
# Kinds whose documented examples are not set aside before their check: values found by
# their place are judged by their checks alone, and the checks of values judged by their
# name set examples aside themselves (checked in tests/redaction/test_rule_choice.py).
_JUDGES_EXAMPLES = _BY_PLACE | _JUDGED_BY_NAME


# RE2's default budget (8 MiB) is too small for the automaton of the assignment rules:
# RE2 would fall back to its NFA, orders of magnitude slower, and log each time.
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20
# The scan asks for spans only: without capturing groups RE2 finds them with its DFAs
# alone, with none it runs its slower submatch engine over every candidate's span.
_SPAN_OPTIONS = re2.Options()
_SPAN_OPTIONS.max_mem = 64 << 20
_SPAN_OPTIONS.never_capture = True


# How far past a match the rules' own patterns may look when telling which one it was
# (a rule's match ends with at most one byte of context, ``(?:[^A-Za-z0-9]|$)``; the
# rest only keeps a ``\b`` or ``$`` at the match's end reading the real next byte).
_PICK_CONTEXT = 64


def marker(kind: str) -> bytes:
    """The replacement text of a secret."""
    return b"[REDACTED:" + kind.encode() + b"]"


class _Group:
    """A few consecutive rules joined into one RE2 alternation.

    Only google-re2's public API is used: ``finditer``/``match`` with ``pos`` and
    ``endpos`` keep the whole text as context, so ``\\b`` before ``pos`` is judged on the
    real neighbouring byte. The scan searches ``spans`` (no groups: DFAs only) and asks
    ``pick`` which rule it was; ``regex`` has the groups, for anchored matches.
    """

    def __init__(self, rules: list[tuple[int, Rule]]) -> None:
        parts: list[bytes] = []
        # Per outer group number: its rule, the rule's value group, the rule's index.
        self.outer: dict[int, tuple[Rule, int | None, int]] = {}
        group = 0
        for index, rule in rules:
            inner = re2.compile(rule.pattern).groups
            if inner > 1:
                raise ValueError(f"rule {rule.kind} has more than one capturing group")
            group += 1
            self.outer[group] = (rule, group + 1 if inner else None, index)
            parts.append(b"(" + rule.pattern + b")")
            group += inner
        joined = b"|".join(parts)
        self.regex = re2.compile(joined, _OPTIONS)
        # The families of this automaton, for values its kinds named by place find.
        self.families: _Group | None = None
        self.judges_by_name = any(rule.kind in _JUDGED_BY_NAME for _, rule in rules)
        self.spans = re2.compile(joined, _SPAN_OPTIONS)
        self.match = self.regex.match
        # Per first byte: the rules a match starting with it may be, in their order,
        # each as its own Python pattern and the number of its value group (0: none).
        by_byte: dict[int, list[tuple[re.Pattern[bytes], Rule, int, int]]] = {}
        for index, rule in rules:
            python = pick.python_pattern(rule.pattern)
            compiled = re.compile(python)
            candidate = (compiled, rule, compiled.groups, index)
            for byte in pick.first_bytes(python):
                by_byte.setdefault(byte, []).append(candidate)
        self.by_byte = {byte: tuple(found) for byte, found in by_byte.items()}
        # The bytes no rule of this automaton can start a match with.
        self.no_start = frozenset(range(256)) - self.by_byte.keys()
        # The literals one of which every match holds, when every rule has them, and the
        # farthest from a match's start they may be (0: every match starts with one).
        leads = [_rule_leads(rule) for _, rule in rules]
        self.leads = None if None in leads else frozenset().union(*(found for found, _ in leads))
        self.reach = 0 if self.leads is None else max(reach for _, reach in leads)
        # Whether a match from a lead is read by the rules' own patterns alone
        # (``pick.reads_at``), without asking RE2 first.
        self.reads = (
            self.leads is not None and not self.reach and all(_reads_at(rule) for _, rule in rules)
        )

    def pick(self, data: bytes, match_start: int, match_end: int) -> tuple[Rule, int, int, int]:
        """``which`` for a span the automaton found: the rule, its value's span, its index.

        The first rule that can start with the span's first byte and matches there is
        the alternative RE2 chose; it must end where RE2's match did, or RE2 is asked.
        """
        limit = min(len(data), match_end + _PICK_CONTEXT)
        for compiled, rule, value_group, index in self.by_byte.get(data[match_start], ()):
            found = compiled.match(data, match_start, limit)
            if found is None:
                continue
            if found.end() == match_end:
                start, end = found.span(value_group)
                return rule, start, end, index
            break
        return self.which(self.regex.match(data, match_start))

    def read_at(
        self, data: bytes, at: int, window_end: int
    ) -> tuple[int, Rule, int, int, int] | None:
        """The match starting at ``at``, read by the rules' own patterns (``reads``).

        The first rule, in order, whose pattern matches there is the alternative RE2
        would choose. The patterns read past the window's end, as RE2 does, so ``\b``
        and ``$`` at a match's end see the real next byte; a match running past it is
        none (RE2's would have ended there).
        """
        limit = min(len(data), at + pick.MAX_WIDTH + _PICK_CONTEXT)
        for compiled, rule, value_group, index in self.by_byte.get(data[at], ()):
            found = compiled.match(data, at, limit)
            if found is not None:
                if found.end() > window_end:
                    return None
                start, end = found.span(value_group)
                return at, rule, start, end, index
        return None

    def which(self, found: Any) -> tuple[Rule, int, int, int]:
        """The rule that matched, the span it redacts, and the rule's place in ``RULES``."""
        # The alternative that matched is the outer group ending last (its value group
        # ends no later, and every other group is unset): ``lastindex`` finds it in
        # one loop inside the binding instead of one ``span`` call per alternative.
        rule, value_group, index = self.outer[found.lastindex]
        start, end = found.span(value_group) if value_group else found.span()
        return rule, start, end, index


# Leads that are everyday words of page text or start every URL: a rule led by one is
# searched for (``http`` starts a Sentry DSN, ``account`` a wallet key's name), as is one
# led by ``//``.
_EVERYDAY = frozenset({b"http", b"cookie", b"set-cookie", b"account"})


def _distinctive(text: bytes, ignore_case: bool) -> bool:
    """Whether a lead is rare enough in evidence to be looked for on its own.

    Four bytes are; three when one of them is not a lower-case letter and case counts
    (``hf_``, ``eyJ``, ``EAA``): ``pat``, ``aws`` or ``eth`` start too many words.
    """
    if text.lower() in _EVERYDAY or b"//" in text:
        return False
    if len(text) >= 4:
        return True
    return len(text) == 3 and not ignore_case and not (text.isalpha() and text.islower())


@functools.cache
def _reads_at(rule: Rule) -> bool:
    """Whether ``rule``'s own pattern may read a match from a lead (``pick.reads_at``)."""
    return pick.reads_at(pick.python_pattern(rule.pattern))


@functools.cache
def _rule_leads(rule: Rule) -> tuple[frozenset[tuple[bytes, bool]], int] | None:
    """Distinctive literals one of which every match of ``rule`` holds, or None.

    With them, the farthest from a match's start they may be: 0 when every match starts
    with one (``ghp_``), more when a bounded prefix comes first (``.atlasv1.`` 14 bytes
    into a Terraform token).
    """
    pattern = pick.python_pattern(rule.pattern)
    leads = pick.leading_literals(pattern)
    if leads is not None and all(_distinctive(text, folded) for text, folded in leads):
        return leads, 0
    return pick.inner_literals(pattern, _distinctive)


def _groups(rules: Iterable[Rule]) -> tuple[_Group, ...]:
    """The rules in order, cut into automata of ``_GROUP_SIZE`` rules.

    Rules led by literals of their own (``ghp_``, ``AKIA``) come first, in automata
    matched only where one of their literals is (``_Leads``); the others are searched
    for. The rules that judge a value by its name get automata of their own, last: when
    one of them rejects a value, its group skips to the value's end (the same name would
    judge any later candidate inside it the same way), which must not skip another
    family, and they set aside the values the others took.
    """
    indexed = list(enumerate(rules))
    generic = [pair for pair in indexed if pair[1].kind in _JUDGED_BY_NAME]
    specific = [pair for pair in indexed if pair[1].kind not in _JUDGED_BY_NAME]
    leads = {index: _rule_leads(rule) for index, rule in specific}
    led = [pair for pair in specific if leads[pair[0]] is not None and not leads[pair[0]][1]]
    read = [pair for pair in led if _reads_at(pair[1])]
    matched = [pair for pair in led if not _reads_at(pair[1])]
    held = [pair for pair in specific if leads[pair[0]] is not None and leads[pair[0]][1]]
    searched = [pair for pair in specific if leads[pair[0]] is None]
    alone = [pair for pair in searched if pair[1].kind in _SEARCHED_ALONE]
    searched = [pair for pair in searched if pair[1].kind not in _SEARCHED_ALONE]
    return tuple(
        _Group(chunk[at : at + size])
        for chunk, size in (
            (read, _GROUP_SIZE),
            (matched, _GROUP_SIZE),
            (held, _GROUP_SIZE),
            (searched, _GROUP_SIZE),
            (alone, 1),
            (generic, _GROUP_SIZE),
        )
        for at in range(0, len(chunk), size)
    )


_GROUPS = _groups(RULES)
# A value found by its place (``Bearer …``) that is exactly a family's token is named by
# the family. A family in another automaton finds it at the same start and wins there
# (``_apply``); one in the same automaton is skipped once the place's match is taken,
# so each automaton holding kinds named by place gets a small one of its families,
# matched anchored on such values only. (One automaton of every family did the same
# but built DFA states for each new value: most of the time on secret-dense text.)
_KEEP_OWN_KIND = frozenset({"private_key", "cookie", "kubernetes_secret", "vendor_secret"})


def _bind_families(groups: Iterable[_Group]) -> None:
    """Give each automaton holding kinds named by place an automaton of its families."""
    for group in groups:
        rules = [(index, rule) for rule, _, index in group.outer.values()]
        families = [
            (index, rule)
            for index, rule in rules
            if rule.kind not in _BY_PLACE and rule.kind not in _KEEP_OWN_KIND
        ]
        if families and any(rule.kind in _BY_PLACE for _, rule in rules):
            group.families = _Group(families)


_bind_families(_GROUPS)

# Bytes whose case RE2 folds beyond ASCII in UTF-8 text: ``(?i:k)`` also matches the
# Kelvin sign, ``(?i:s)`` the long s. A lead that ignores case finds them too.
_FOLDED_BEYOND_ASCII = {ord("k"): b"|\\xe2\\x84\\xaa", ord("s"): b"|\\xc5\\xbf"}


def _hyperscan_literal(text: bytes, ignore_case: bool) -> bytes:
    """``text`` as a Hyperscan pattern, each byte escaped, case folded as RE2 folds it."""
    out = []
    for byte in text:
        lower = bytes([byte]).lower()[0]
        if ignore_case and lower != bytes([byte]).upper()[0]:
            upper = bytes([byte]).upper()[0]
            extra = _FOLDED_BEYOND_ASCII.get(lower, b"")
            out.append(b"(?:[\\x%02x\\x%02x]%s)" % (lower, upper, extra))
        else:
            out.append(b"\\x%02x" % byte)
    return b"".join(out)


class _Leads:
    """Where the led automata may match: every place one of their literals is.

    An automaton whose every rule starts with a literal of its own (``_rule_leads``)
    can only match where one of them is, so it is matched there, anchored, instead of
    searching the text: on secret-dense text that takes 8 of the 11 automata off most
    of it. Hyperscan finds the literals, all at once and every occurrence, also one
    starting inside another (``eyJ`` in ``ops_eyJ``), at about 1 ms per MB; RE2 then
    matches from each, so what is matched and how long it takes stay RE2's.
    """

    def __init__(self, groups: tuple[_Group, ...]) -> None:
        owners: dict[tuple[bytes, bool], set[int]] = {}
        for number, group in enumerate(groups):
            for lead in group.leads or ():
                owners.setdefault(lead, set()).add(number)
        leads = sorted(owners)
        # Per literal, by its Hyperscan id: the automata it may start a match of.
        self.owners = [tuple(sorted(owners[lead])) for lead in leads]
        self.database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.database.compile(
            expressions=[_hyperscan_literal(text, folded) for text, folded in leads],
            ids=list(range(len(leads))),
            flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(leads),
        )
        # Hyperscan's scratch space serves one scan at a time: one per thread.
        self._local = threading.local()

    def starts(
        self, data: bytes, windows: Iterable[tuple[int, int]]
    ) -> dict[int, list[tuple[int, int]]]:
        """Per led automaton, in order: where a match may start, and its window's end."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        found: list[tuple[int, int, int]] = []
        for window_start, window_end in windows:

            def add(lead: int, start: int, end: int, flags: int, context: object) -> None:
                found.append((window_start + start, lead, window_end))  # noqa: B023

            self.database.scan(data[window_start:window_end], add, scratch=scratch)
        starts: dict[int, list[tuple[int, int]]] = {}
        owners = self.owners
        for start, lead, window_end in sorted(found):
            for number in owners[lead]:
                starts.setdefault(number, []).append((start, window_end))
        return starts


_LEADS = _Leads(_GROUPS)


def _around(data: bytes, found: list[tuple[int, int]], reach: int) -> list[tuple[int, int]]:
    """Windows around literals found inside matches: from ``reach`` bytes before each.

    Each runs to the end of the line ``_WINDOW`` bytes past its literal, as the
    prefilter's windows do, and never past the prefilter window it lies in.
    """
    windows: list[tuple[int, int]] = []
    for at, window_end in found:
        start = max(0, at - reach)
        line_end = data.find(b"\n", at + _WINDOW, window_end)
        end = window_end if line_end < 0 else _BLANK.match(data, line_end, window_end).end()
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


# The prefilter: one automaton of every rule with its counted runs cut down, so that
# its DFA stays small (a count of n becomes "at least min(n, 6)"; a rule's language only
# grows, so wherever a rule matches, the prefilter matches at the same start). The
# rules' automata then search only windows around its matches: on secret-free text the
# prefilter is the one pass over every byte. The Bitcoin WIF rule keeps its count: it has
# no literal, and "[5KLc] then 6 base58 characters" is every other word.
_PREFILTER_RUN = 6
_PREFILTER_EXACT = frozenset({rb"\b([5KLc][1-9A-HJ-NP-Za-km-z]{50,51})\b"})
_COUNT = re.compile(rb"\{(\d+)(?:,\d*)?\}")


def _relaxed(pattern: bytes) -> bytes:
    """``pattern`` with every ``{n,m}`` made ``{min(n, _PREFILTER_RUN),}``: it matches more."""
    if pattern in _PREFILTER_EXACT:
        return pattern
    return _COUNT.sub(lambda count: b"{%d,}" % min(int(count[1]), _PREFILTER_RUN), pattern)


_PREFILTER = re2.compile(
    b"|".join(b"(?:" + _relaxed(rule.pattern) + b")" for rule in RULES), _SPAN_OPTIONS
)
# A window runs from a prefilter match to the end of the line _WINDOW bytes past it,
# and past the blank space after that line. A match crosses a line break only in its
# first bytes (``password =\n  "…"``: the name, the operator and the spaces around it,
# under 200 bytes in every rule), so no match runs past a window's end: one that
# started before the line break came from a prefilter match whose window ends later.
# Unbounded values (``AKCp…``, a quoted passphrase) stop at a line break.
_WINDOW = 256
_BLANK = re.compile(rb"\s*")
# When the windows cover most of the text read so far, scanning everything costs less
# than finding more of them: the rest of the text is one window (and dense new text does
# not pay for the prefilter's DFA states, about 0.6 s per MB).
_PREFILTER_TRIAL = 16_384


def _windows(data: bytes) -> list[tuple[int, int]]:
    """The parts of ``data`` where a rule may match, in order and disjoint."""
    length = len(data)
    windows: list[tuple[int, int]] = []
    covered = position = 0
    search = _PREFILTER.search
    while position < length:
        if position > _PREFILTER_TRIAL and covered * 2 > position:
            windows.append((position, length))
            break
        found = search(data, position, length)
        if found is None:
            break
        start, end = found.span()
        line_end = data.find(b"\n", end + _WINDOW)
        position = length if line_end < 0 else _BLANK.match(data, line_end).end()
        windows.append((start, position))
        covered += position - start
    return windows


# Rules that know a secret by its own shape (a prefix, a format, a checksum), not by
# the name it is assigned to: ``secret-in-page-source:<hash>`` is a fingerprint, not an
# assignment. Fields stored as sent are checked with these only.
_TOKEN_GROUPS = _groups(
    rule
    for rule in RULES
    if rule.kind not in _BY_PLACE
    and rule.kind not in _JUDGED_BY_NAME
    and OPERATOR not in rule.pattern
)


def holds_token(text: str) -> bool:
    """Whether ``text`` holds a secret that shows by its own shape (``ghp_…``, ``AKIA…``)."""
    data = text.encode("utf-8", "surrogatepass")
    spans: list[tuple[int, int, str, int]] = []
    for group in _TOKEN_GROUPS:
        _scan(group, data, spans)
        if spans:
            return True
    return False


class Redactor:
    """Replaces secrets in text with ``[REDACTED:<kind>]``; idempotent."""

    def __init__(self, literal_secrets: Iterable[str] = ()) -> None:
        literals = sorted(
            {
                form.encode("utf-8", "surrogatepass")
                for secret in literal_secrets
                if secret and len(secret) >= MIN_LITERAL and not _inside_marker(secret)
                for form in _encoded_forms(secret)
            },
            key=len,
            reverse=True,
        )
        # ``bytes in`` is a fast substring search: it tells the texts without any literal
        # (nearly all of them) before the regex that finds and replaces them is run.
        self._literal_forms = tuple(literals)
        self._literals = (
            re2.compile(b"|".join(re2.escape(s) for s in literals)) if literals else None
        )

    def redact(self, text: str) -> str:
        """Apply every text rule (and the literal secrets) to ``text``."""
        if not text:
            return text
        data = text.encode("utf-8", "surrogatepass")
        redacted = self._redact_bytes(data)
        return text if redacted is data else redacted.decode("utf-8", "surrogatepass")

    def redact_bytes(self, data: bytes) -> bytes:
        """The same as ``redact`` for UTF-8 bytes (HTML snapshots)."""
        return self._redact_bytes(data)

    def redact_url(self, url: str) -> str:
        """A URL with its userinfo password and secret-looking query values redacted."""
        # The text rules find userinfo passwords, tokens of every family and the common
        # secret parameter names; a URL's parameters are then judged by name alone.
        return _URL_PARAM.sub(_redact_url_param, self.redact(url)) if url else url

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Header values with credentials, cookies and secret-named headers redacted."""
        return {name: self._redact_header(name, value) for name, value in headers.items()}

    def _redact_header(self, name: str, value: str) -> str:
        lower = name.lower()
        if lower in ("set-cookie", "cookie"):
            data = value.encode("utf-8", "surrogatepass")
            spans = [(*span, 0) for span in _cookie_spans(data, 0, len(data))]
            return self.redact(_apply(data, spans).decode("utf-8", "surrogatepass"))
        if lower in ("authorization", "proxy-authorization"):
            scheme, _, credentials = value.strip().partition(" ")
            if not credentials:
                return "[REDACTED:authorization]"
            kind = {"bearer": "bearer_token", "basic": "basic_auth"}.get(
                scheme.lower(), "authorization"
            )
            return f"{scheme} [REDACTED:{kind}]"
        if lower not in _CHALLENGE_HEADERS and _SENSITIVE_HEADER.search(lower):
            return value if value.startswith("[REDACTED:") else "[REDACTED:header_secret]"
        return self.redact(value)

    def _redact_bytes(self, data: bytes) -> bytes:
        # A marker can give the text after it the word boundary a family needs (a token
        # glued to the end of another), so redaction repeats until nothing changes: that
        # makes it idempotent. Text without secrets is scanned once.
        # A round whose markers all sit between separators (quotes, spaces, ``=``...)
        # changed no neighbour's boundary, so another round would find nothing new: on
        # secret-dense text that saves a second scan.
        for _ in range(_MAX_ROUNDS):
            redacted, settled = self._redact_once(data)
            if redacted is data:
                break
            data = redacted
            if settled:
                break
        return data

    def _redact_once(self, data: bytes) -> tuple[bytes, bool]:
        spans: list[tuple[int, int, str, int]] = []
        settled = True
        # ``find``, not ``in``: CPython 3.11 first tries ``bytes in bytes`` as an integer
        # search and raises and clears a TypeError each time (checks.py says more).
        find = data.find
        if self._literals is not None and any(find(form) >= 0 for form in self._literal_forms):
            spans.extend(
                (m.start(), m.end(), "scanner_secret", -1) for m in self._literals.finditer(data)
            )
            if spans:
                settled = _settled(data, spans)
                data = _apply(data, spans)
                spans = []
        windows = _windows(data)
        kept: list[tuple[int, int, int]] = []
        starts = _LEADS.starts(data, windows) if windows else {}
        for number, group in enumerate(_GROUPS) if windows else ():
            found = None if group.leads is None else starts.get(number, [])
            if found is None:
                _scan(group, data, spans, windows, kept)
            elif group.reach:
                _scan(group, data, spans, _around(data, found, group.reach), kept)
            else:
                _scan(group, data, spans, windows, kept, found)
        if not spans:
            return data, settled
        settled = settled and _settled(data, spans) and not _cut_by_markers(kept, spans)
        return _apply(data, spans), settled


def _scan(
    group: _Group,
    data: bytes,
    spans: list[tuple[int, int, str, int]],
    windows: Iterable[tuple[int, int]] | None = None,
    kept: list[tuple[int, int, int]] | None = None,
    starts: Iterable[tuple[int, int]] | None = None,
) -> None:
    """Add the spans of every secret ``group`` finds in ``data``.

    Groups scan independently; spans found by several overlap and ``_apply`` joins them,
    so a secret is never cut short by a match of another group starting inside it.
    Only ``windows`` are searched (``_windows``: every match lies in one); the whole
    text when none are given. A scan that went past a window's end goes on from there.
    A led automaton is given the ``starts`` where its matches may begin (``_Leads``)
    and is matched there only. Values a check kept by their name are added to ``kept``
    when it is given, as the starts of their match and value and the value's end.
    """
    length = len(data)
    # Where the scan goes on from: the matches are read from it, the checks move it.
    cursor = [0]
    if starts is None:
        matches = _searched(group, data, ((0, length),) if windows is None else windows, cursor)
    else:
        matches = _anchored(group, data, starts, cursor)
    cookies_until = secrets_until = 0
    # The spans other automata took, by start: a value judged by its name that is
    # exactly one of them, taken by a rule listed earlier, is that rule's (``_apply``),
    # whatever its name says; judging it would only cost time (``token=ghp_…``).
    taken = {span[0]: span for span in spans} if group.judges_by_name else {}
    for match_start, rule, start, end, index in matches:
        prior = taken.get(start)
        if prior is not None and prior[1] == end and prior[3] < index:
            cursor[0] = max(end, match_start + 1)
            continue
        if rule.kind == "cookie":
            # The header's values are parsed once per line (a line of ``Cookie:``
            # repeats must not be parsed once per repeat); scanning goes on from the
            # first value, so this group's other families are found in the line too.
            if start >= cookies_until:
                cookies_until = _cookie_end(data, start)
                spans.extend((*span, index) for span in _cookie_spans(data, start, cookies_until))
            cursor[0] = start
            continue
        if rule.kind == "kubernetes_secret":
            # Every value of the manifest's data and stringData maps, parsed once per
            # document however often ``kind: Secret`` repeats in it.
            if start >= secrets_until:
                found_spans, secrets_until = _kubernetes_secret_spans(data, start, end)
                spans.extend((*span, index) for span in found_spans)
            cursor[0] = end
            continue
        example = rule.kind not in _JUDGES_EXAMPLES and checks.is_example_token(data[start:end])
        accepted = [] if example else _spans_of(rule, data, start, end, group.families)
        if accepted:
            spans.extend((*span, index) for span in accepted)
            # From the span's end, not the match's: a rule's match may take the byte
            # after its value (``(?:[^A-Za-z0-9_\-]|$)``) or a closing quote, which
            # stay in the text and may start the next secret (``…:AA…<add key=``).
            cursor[0] = accepted[-1][1]
            # A token glued to the end of this one (``…xyzfigd_…``) fails its ``\b``
            # now, but would match once this one is a marker: take it in this pass,
            # or a chain of glued tokens would need a pass per token.
            glued_at = accepted[-1][1]
            while glued_at < length and data[glued_at] in _WORD_BYTES:
                glued = _glued_spans(data, glued_at)
                if not glued:
                    break
                spans.extend((*span, index) for span in glued)
                glued_at = glued[-1][1]
                cursor[0] = max(cursor[0], glued_at)
        elif rule.kind in _JUDGED_BY_NAME or example:
            # The check judged the whole value by the name it walks back to (or the
            # value is a documented example): a later candidate inside it would be
            # judged the same way, and retrying byte by byte would judge
            # ``token=token=…`` once per repeat. Families starting inside it are
            # found by their own groups.
            cursor[0] = max(end, match_start + 1)
            if kept is not None and rule.kind in _JUDGED_BY_NAME:
                kept.append((match_start, start, end))
        else:
            # Rejected: another family of this group may still match from the next
            # byte on (``aws…secret=`` that is not an AWS key can be a generic one).
            cursor[0] = match_start + 1


def _searched(
    group: _Group, data: bytes, windows: Iterable[tuple[int, int]], cursor: list[int]
) -> Iterator[tuple[int, Rule, int, int, int]]:
    """The matches of ``group`` in ``windows``, each searched for from ``cursor[0]``.

    Each is where it starts, its rule, its value's span and the rule's index (``pick``).
    """
    finditer, nostart, pick = group.spans.finditer, group.no_start, group.pick
    for window_start, window_end in windows:
        cursor[0] = max(cursor[0], window_start)
        # One iterator runs on while the scan goes on from the end of its last match
        # (most of the time): google-re2 costs a few µs per call to ``search``.
        resume = -1
        while (position := cursor[0]) <= window_end:
            # Going on from one byte short of the last match's end (its value ended
            # there) is the same as resuming when no rule of this group starts with it.
            if position != resume and not (position == resume - 1 and data[position] in nostart):
                matches = finditer(data, position, window_end)
            found = next(matches, None)
            if found is None:
                break
            match_start, match_end = found.span()
            resume = match_end if match_end > match_start else -1
            yield match_start, *pick(data, match_start, match_end)


def _anchored(
    group: _Group, data: bytes, starts: Iterable[tuple[int, int]], cursor: list[int]
) -> Iterator[tuple[int, Rule, int, int, int]]:
    """The matches of a led ``group`` at ``starts`` from ``cursor[0]`` on, in order.

    Every match of the group starts at one of them, so the first that matches is the
    leftmost match a search would find, and the alternation chooses its rule alike.
    """
    if group.reads:
        read_at = group.read_at
        for at, window_end in starts:
            if at >= cursor[0] and (read := read_at(data, at, window_end)) is not None:
                yield read
        return
    match, pick = group.spans.match, group.pick
    for at, window_end in starts:
        if at >= cursor[0]:
            found = match(data, at, window_end)
            if found is not None:
                match_start, match_end = found.span()
                yield match_start, *pick(data, match_start, match_end)


def _redact_url_param(param: re.Match[str]) -> str:
    """One ``name=value`` of a URL, its value replaced when the name says secret."""
    separator, name, value = param.groups()
    plain_name = urllib.parse.unquote(name)
    if (
        not value
        or value.startswith("[REDACTED:")
        or not _URL_SECRET_NAME.search(plain_name)
        or (checks.is_harmless_name(plain_name) and not checks.is_session_name(plain_name))
    ):
        return param.group(0)
    password = checks.is_password_name(plain_name)
    # Short values of broad names are flags and choices (``authuser=0``, ``session=new``).
    if not password and len(value) < 8 or checks.is_placeholder(urllib.parse.unquote(value)):
        return param.group(0)
    kind = "password" if password else "query_secret"
    return f"{separator}{name}=[REDACTED:{kind}]"


def _inside_marker(secret: str) -> bool:
    """Whether ``secret`` is part of a marker's text (it would match its own marker)."""
    return any(secret in f"[REDACTED:{kind}]" for kind in KINDS)


def _encoded_forms(secret: str) -> set[str]:
    """``secret`` as it may appear in evidence: raw, URL-encoded, in JSON, in HTML."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        html.escape(secret),
    }
    return {form for form in forms if len(form) >= MIN_LITERAL}


def _glued_spans(data: bytes, at: int) -> list[tuple[int, int, str]]:
    """The spans of a secret starting exactly at ``at``, read as if a word ended there."""
    # A slice starts a text, so ``\b`` holds at its first byte.
    window = data[at : at + _GLUE_WINDOW]
    best: tuple[int, Rule, int, int, _Group | None] | None = None
    for group in _GROUPS:
        found = group.match(window)
        if found is None:
            continue
        rule, start, end, index = group.which(found)
        # Leftmost-first: at the same start, the rule listed first wins.
        if best is None or index < best[0]:
            best = (index, rule, start, end, group.families)
    if best is None:
        return []
    _, rule, start, end, families = best
    if rule.kind in ("cookie", "private_key", "generic_secret") or start != 0:
        return []
    if rule.kind not in _BY_PLACE and checks.is_example_token(window[start:end]):
        return []  # ``AKIAIOSFODNN7EXAMPLE``, ``sk_live_XXXXXXXX``: documentation
    found = _spans_of(rule, window, start, end, families)
    return [(at + s, at + e, kind) for s, e, kind in found]


def _spans_of(
    rule: Rule, data: bytes, start: int, end: int, families: _Group | None
) -> list[tuple[int, int, str]]:
    """The spans a candidate match redacts (empty when its check rejects it).

    The caller has already set documented examples aside (``checks.is_example_token``).
    """
    if rule.kind == "private_key":
        return [_pem_span(data, start, end, rule)]
    if rule.kind == "url_password":
        user_end = data.index(b":", start, end)
        if not checks.user_is_credential(data[start:user_end], data[user_end + 1 : end]):
            start = user_end + 1
    kind = rule.check(data, start, end, rule.kind) if rule.check else rule.kind
    if kind is None:
        return []
    if families is not None and kind in _BY_PLACE:
        kind = _family_kind(families, data[start:end], kind)
    return [(start, end, kind)]


def _family_kind(families: _Group, value: bytes, kind: str) -> str:
    """A value found by its place may also have a family of its own: name that one."""
    found = families.regex.fullmatch(value)
    if found is None:
        return kind
    rule, _, _, _ = families.which(found)
    return (rule.check(value, 0, len(value), rule.kind) if rule.check else rule.kind) or kind


def _pem_span(data: bytes, start: int, end: int, rule: Rule) -> tuple[int, int, str]:
    """From a private key's header to its END line (or the end of its base64 body)."""
    kind = rule.check(data, start, end, rule.kind) or rule.kind
    found = _PEM_END.search(data, end, min(len(data), end + _PEM_MAX))
    if found is not None:
        return start, found.end(), kind
    body = _PEM_BODY.match(data, end, min(len(data), end + _PEM_MAX))
    return start, body.end() if body else end, kind


# A Kubernetes manifest is a YAML document (``---`` separates them) or a JSON object;
# bounded like a PEM block, so text full of ``kind: Secret`` stays linear.
_DOCUMENT_MAX = 8_192
_YAML_DATA = re.compile(rb"(?m)^([ \t]*)(?:data|stringData):[ \t]*\r?$")
_YAML_ENTRY = re.compile(
    rb"(?m)^([ \t]+)[\"']?[A-Za-z0-9_.\-]+[\"']?:[ \t]+[|>]?[-+]?[ \t]*([^\r\n]*)"
)
_JSON_DATA = re.compile(rb'\\{0,2}"(?:data|stringData)\\{0,2}"\s*:\s*\{([^{}]*)\}')
_JSON_ENTRY = re.compile(
    rb'\\{0,2}"[^"\\]{1,253}\\{0,2}"\s*:\s*\\{0,2}"((?:[^"\\]|\\[^"])*)\\{0,2}"'
)


def _kubernetes_secret_spans(
    data: bytes, start: int, end: int
) -> tuple[list[tuple[int, int, str]], int]:
    """The values of a Secret manifest's data maps, and where its document ends."""
    floor = max(0, start - _DOCUMENT_MAX)
    doc_start = data.rfind(b"\n---", floor, start)
    doc_start = floor if doc_start < 0 else doc_start + 4
    doc_end = data.find(b"\n---", end, min(len(data), end + _DOCUMENT_MAX))
    doc_end = min(len(data), end + _DOCUMENT_MAX) if doc_end < 0 else doc_end
    spans = []
    # ``"kind": "Secret"`` is JSON, ``kind: Secret`` YAML: parse only the one it is.
    is_json = b'"' in data[start:end]
    for block in _JSON_DATA.finditer(data, doc_start, doc_end) if is_json else ():
        for entry in _JSON_ENTRY.finditer(block.group(1)):
            if entry.end(1) > entry.start(1):
                at = block.start(1)
                spans.append((at + entry.start(1), at + entry.end(1), "kubernetes_secret"))
    for block in () if is_json else _YAML_DATA.finditer(data, doc_start, doc_end):
        indent = len(block.group(1))
        position = block.end()
        while True:
            entry = _YAML_ENTRY.match(data, position + 1, doc_end)
            if entry is None or len(entry.group(1)) <= indent:
                break
            value_start, value_end = entry.span(2)
            position = entry.end()
            if data[value_start - 1 : value_start] in b"|>" or value_start == value_end:
                # A block scalar: its lines are the ones indented deeper than the key.
                key_indent = len(entry.group(1))
                line_end = position
                while True:
                    next_end = data.find(b"\n", line_end + 1, doc_end)
                    next_end = doc_end if next_end < 0 else next_end
                    line = data[line_end + 1 : next_end]
                    if not line.strip() or len(line) - len(line.lstrip()) <= key_indent:
                        break
                    line_end = next_end
                value_start, value_end = position, line_end
                position = line_end
            text = data[value_start:value_end].strip(b"\"' ")
            if text and not text.startswith(b"[REDACTED:"):
                spans.append((value_start, value_end, "kubernetes_secret"))
    return spans, doc_end


def _cookie_end(data: bytes, start: int) -> int:
    """Where the cookie header whose values start at ``start`` ends."""
    limit = min(len(data), start + _COOKIE_MAX)
    found = _COOKIE_END.search(data, start, limit)
    return found.start() if found else limit


def _cookie_spans(data: bytes, start: int, end: int) -> list[tuple[int, int, str]]:
    """Every cookie value (not names, not attributes) in ``data[start:end]``."""
    spans = []
    for pair in _COOKIE_PAIR.finditer(data[start:end]):
        name, value = pair.group(1), pair.group(2)
        if (
            name.lower() in _COOKIE_ATTRIBUTES
            or not value.strip()
            or value.startswith(b"[REDACTED:")
        ):
            continue
        spans.append((start + pair.start(2), start + pair.end(2), "cookie"))
    return spans


# Bytes that continue a token or an identifier on the left of a secret, and on its
# right: a marker next to one of these can let a rule match (or its check accept, as
# when ``…<secret>$apiKey = "…"`` walks back to a name) where it did not before.
# (``/`` is left out: it ends URL paths, ``https://…/services/<secret>``. It glues only
# as the last of 40 base64 characters: an AWS secret key may end in ``/``, and its check
# wants no base64 after it, which a marker in place of ``p8e-…`` no longer is.)
_GLUE_BEFORE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+.~%$")
_GLUE_AFTER = _GLUE_BEFORE | frozenset(b"=")
_BASE64_KEY_BEFORE = re.compile(rb"[A-Za-z0-9+/]{39}/")


def _settled(data: bytes, spans: list[tuple[int, int, str, int]]) -> bool:
    """Whether no span touches a token character on either side, and none lost its tail.

    Of spans starting at the same byte only the first rule's is kept (``_apply``). The
    automaton that found a longer one went on from its end and skipped whatever starts
    in the tail that is now kept (``&sig=<signature>!seed_phrase="…"`` read as one query
    value), so another round must search there if a rule may match in it.
    """
    length = len(data)
    # Per start: the rule index and end of the span kept, and the longest end found.
    kept: dict[int, tuple[int, int]] = {}
    longest: dict[int, int] = {}
    for start, end, _, index in spans:
        if start > 0 and data[start - 1] in _GLUE_BEFORE:
            return False
        if end < length and data[end] in _GLUE_AFTER:
            return False
        if data[start - 1 : start] == b"/" and _BASE64_KEY_BEFORE.match(data, start - 40, start):
            return False
        if start not in kept or index < kept[start][0]:
            kept[start] = (index, end)
        if end > longest.get(start, end - 1):
            longest[start] = end
    for start, (_, end) in kept.items():
        if longest[start] > end:
            # Every match starts where a prefilter match does (``_relaxed``).
            found = _PREFILTER.search(data, end, length)
            if found is not None and found.start() < longest[start]:
                return False
    return True


def _cut_by_markers(
    kept: list[tuple[int, int, int]], spans: list[tuple[int, int, str, int]]
) -> bool:
    """Whether a span takes the name of a value a check kept by it, or starts inside it.

    The marker will take the name or cut the value short (no value runs over ``[``), and
    what is left may be judged otherwise (``PASS=0https://hooks…<webhook>https://
    api.example.com`` is kept for its ``example``, ``PASS=0https://hooks…/`` is a
    password): another round must judge it as it will read. A span from the value's
    start replaces the value whole.
    """
    if not kept:
        return False
    ordered = sorted(spans)
    starts = [span[0] for span in ordered]
    # The furthest end of the spans up to each one in start order.
    reach = list(itertools.accumulate((span[1] for span in ordered), max))
    for match_start, start, end in kept:
        before_value = bisect.bisect_left(starts, start)
        if before_value and reach[before_value - 1] > match_start:
            return True  # the name, or a span over the value's start
        inside = bisect.bisect_right(starts, start)
        if inside < len(starts) and starts[inside] < end:
            return True
    return False


def _apply(data: bytes, spans: list[tuple[int, int, str, int]]) -> bytes:
    """Replace each span by its marker; overlapping spans become one marker.

    Spans are ``(start, end, kind, rule index)``. Of spans starting at the same byte,
    the rule listed first wins, as in one leftmost-first alternation; a span starting
    inside another and running past its end extends it, so no tail is ever left.
    """
    out = []
    last = 0
    at = -1
    for start, end, kind, _ in sorted(spans, key=lambda s: (s[0], s[3])):
        if start == at:
            continue
        if start < last:
            if end > last:
                last = end
            continue
        out.append(data[last:start])
        out.append(marker(kind))
        at, last = start, end
    out.append(data[last:])
    return b"".join(out)
