"""The scan: one RE2 pass over the text for every family at once, then checks on candidates.

All rule patterns are joined into one alternation and compiled once with RE2, whose
automaton runs in time linear in the text whatever the patterns are, so no input can
make redaction slow. The text is scanned as UTF-8 bytes: offsets are native and no
character counting is needed. Candidates go through their rule's check; accepted
spans are replaced by ``[REDACTED:<kind>]`` and the text around them is kept.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping

import re2

from webriskops.redaction.rules import RULES, Rule

_PEM_END = re.compile(rb"-----END[ A-Z0-9]{0,24}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(rb"(?:[A-Za-z0-9+/=:\s,\-]|\\n|\\r)*")
# A PEM block is at most this long (an RSA 8192 key is about 6.5 kB); bounding the
# search for its end keeps a text full of unterminated headers linear.
_PEM_MAX = 16_384
_COOKIE_PAIR = re.compile(rb"(?:^|;|,(?=\s*[^\s=;,]+=))\s*([^\s=;,]+)=([^;,\r\n]*)")
_COOKIE_ATTRIBUTES = frozenset(
    b"path domain expires max-age samesite secure httponly priority partitioned version".split()
)
_SENSITIVE_HEADER = re.compile(r"(?i)key|token|secret|session|passw|credential|signature|^x-auth")
_CHALLENGE_HEADERS = frozenset({"www-authenticate", "proxy-authenticate"})

MIN_LITERAL = 8
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
_ANCHOR_BOTH = re2._re2.RE2.Anchor.ANCHOR_BOTH


def marker(kind: str) -> bytes:
    """The replacement text of a secret."""
    return b"[REDACTED:" + kind.encode() + b"]"


class _Compiled:
    """The joined pattern and, per outer group, its rule and value group."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        rules_list = list(rules)
        parts: list[bytes] = []
        self.by_group: dict[int, tuple[Rule, int | None]] = {}
        group = 0
        for rule in rules_list:
            inner = re2.compile(rule.pattern).groups
            if inner > 1:
                raise ValueError(f"rule {rule.kind} has more than one capturing group")
            group += 1
            self.by_group[group] = (rule, group + 1 if inner else None)
            parts.append(b"(" + rule.pattern + b")")
            group += inner
        options = re2.Options()
        options.max_mem = 256 << 20
        self.pattern = re2.compile(b"|".join(parts), options)
        # Two automata over the same alternation: one without groups finds where a
        # candidate starts and ends (RE2's DFA alone, fast), the other, run only on
        # that span, says which family it is and where its value lies. The C-level
        # ``Match`` skips the per-match bookkeeping of the ``re``-compatible wrapper.
        self.find_spans = re2.compile(
            b"|".join(b"(?:" + _without_groups(rule.pattern) + b")" for rule in rules_list),
            options,
        )._regexp.Match
        self.match_spans = self.pattern._regexp.Match
        self.outer = tuple(self.by_group.values())
        self.outer_spans = operator.itemgetter(*self.by_group)

    def which(self, spans: list[tuple[int, int]]) -> tuple[Rule, int, int]:
        """The rule that matched, and the span it redacts."""
        # Exactly one alternative matched: its span is the only one that is not
        # (-1, -1), hence the largest; max() and index() find it without a Python loop.
        outer = self.outer_spans(spans)
        matched = max(outer)
        rule, value_group = self.outer[outer.index(matched)]
        start, end = spans[value_group] if value_group else matched
        return rule, start, end


def _without_groups(pattern: bytes) -> bytes:
    """``pattern`` with its capturing group made non-capturing (classes and escapes kept)."""
    out = bytearray()
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index : index + 1]
        if char == b"\\":
            out += pattern[index : index + 2]
            index += 2
            continue
        if in_class:
            in_class = char != b"]"
        elif char == b"[":
            in_class = True
            # A ``]`` right after ``[`` or ``[^`` is a literal, not the class's end.
            for prefix in (b"[^]", b"[]"):
                if pattern.startswith(prefix, index):
                    out += prefix
                    index += len(prefix)
                    break
            else:
                out += char
                index += 1
            continue
        elif char == b"(" and pattern[index + 1 : index + 2] != b"?":
            out += b"(?:"
            index += 1
            continue
        out += char
        index += 1
    return bytes(out)


_COMPILED = _Compiled(RULES)


class Redactor:
    """Replaces secrets in text with ``[REDACTED:<kind>]``; idempotent."""

    def __init__(self, literal_secrets: Iterable[str] = ()) -> None:
        literals = sorted(
            {
                s.encode("utf-8", "surrogatepass")
                for s in literal_secrets
                if s and len(s) >= MIN_LITERAL
            },
            key=len,
            reverse=True,
        )
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
        return self.redact(url)

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Header values with credentials, cookies and secret-named headers redacted."""
        return {name: self._redact_header(name, value) for name, value in headers.items()}

    def _redact_header(self, name: str, value: str) -> str:
        lower = name.lower()
        if lower in ("set-cookie", "cookie"):
            data = value.encode("utf-8", "surrogatepass")
            spans = _cookie_spans(data, 0, len(data), set_cookie=lower == "set-cookie")
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
        spans: list[tuple[int, int, str]] = []
        if self._literals is not None:
            spans.extend(
                (m.start(), m.end(), "scanner_secret") for m in self._literals.finditer(data)
            )
            if spans:
                data = _apply(data, spans)
                spans = []
        match_spans, length = _COMPILED.match_spans, len(data)
        position = 0
        find_spans = _COMPILED.find_spans
        while position <= length:
            match_start, match_end = find_spans(_UNANCHORED, data, position, length)[0]
            if match_start < 0:
                break
            rule, start, end = _COMPILED.which(
                match_spans(_ANCHOR_BOTH, data, match_start, match_end)
            )
            found = _spans_of(rule, data, match_start, start, end)
            if found:
                spans.extend(found)
                position = max(match_end, found[-1][1])
            else:
                # Rejected: another family may still match from the next byte on
                # (``aws…secret=`` that is not an AWS key can be a generic secret).
                position = match_start + 1
        return _apply(data, spans) if spans else data


def _spans_of(
    rule: Rule, data: bytes, match_start: int, start: int, end: int
) -> list[tuple[int, int, str]]:
    """The spans a candidate match redacts (empty when its check rejects it)."""
    if rule.kind == "private_key":
        return [_pem_span(data, start, end, rule)]
    if rule.kind == "cookie":
        set_cookie = b"set-" in data[match_start:start].lower()
        return _cookie_spans(data, start, end, set_cookie=set_cookie)
    kind = rule.check(data, start, end, rule.kind) if rule.check else rule.kind
    return [] if kind is None else [(start, end, _specific_kind(data[start:end], kind))]


def _specific_kind(value: bytes, kind: str) -> str:
    """A value found by its name may also have a family of its own: name that one."""
    if kind not in ("generic_secret", "password", "query_secret", "bearer_token"):
        return kind
    found_spans = _COMPILED.match_spans(_ANCHOR_BOTH, value, 0, len(value))
    if found_spans[0][0] < 0:
        return kind
    rule, _, _ = _COMPILED.which(found_spans)
    if rule.kind in ("generic_secret", "query_secret", "bearer_token", "cookie", "url_password"):
        return kind
    if rule.check is not None:
        return rule.check(value, 0, len(value), rule.kind) or kind
    return rule.kind


def _pem_span(data: bytes, start: int, end: int, rule: Rule) -> tuple[int, int, str]:
    """From a private key's header to its END line (or the end of its base64 body)."""
    kind = rule.check(data, start, end, rule.kind) or rule.kind
    found = _PEM_END.search(data, end, min(len(data), end + _PEM_MAX))
    if found is not None:
        return start, found.end(), kind
    body = _PEM_BODY.match(data, end, min(len(data), end + _PEM_MAX))
    return start, body.end() if body else end, kind


def _cookie_spans(
    data: bytes, start: int, end: int, *, set_cookie: bool
) -> list[tuple[int, int, str]]:
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


def _apply(data: bytes, spans: list[tuple[int, int, str]]) -> bytes:
    """Replace each span (sorted, not overlapping) by its marker."""
    out = []
    last = 0
    for start, end, kind in sorted(spans):
        if start < last:
            continue
        out.append(data[last:start])
        out.append(marker(kind))
        last = end
    out.append(data[last:])
    return b"".join(out)
