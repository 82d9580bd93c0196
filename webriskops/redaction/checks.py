"""Checks run on candidate matches only: checksums, entropy, names and shapes.

Each check takes the whole text, the value's span and the rule's kind, and returns the
kind to report or ``None`` to keep the value. They are allowed to be slower than the
scan because they only ever see the few places the scan flagged.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import re
import zlib
from collections import Counter, deque

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Bytes of an identifier a value is assigned to (``DD_API_KEY``, ``$config.token``).
_IDENT_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.$-"
_TOKEN_GLUE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_"
# Single bytes are looked for as integers: ``32 in value`` is a byte search, while
# ``b" " in value`` first tries to read its operand as an integer and fails (``str``
# below for longer needles).
_SPACE, _TAB, _DOT, _SEMICOLON, _EQUALS = b" \t.;="
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

# Names that carry hashes, ids and settings rather than secrets (``token_hash``,
# ``session_timeout``, ``integrity``): a value next to them is kept.
_HARMLESS_NAME = re.compile(
    rb"(?i)(hash|sha\d*|md5|digest|checksum|etag|integrity|nonce|commit|version|revision|"
    rb"(?:^|[_.\-])(?:id|ids|url|uri|path|file|name|type|length|len|count|size|format|prefix|"
    rb"field|label|header|param|input|policy|mode|method|endpoint|expires?|expiry|ttl|timeout|"
    rb"max|min|enabled|required|placeholder|storage|store|key_?id)$|"
    rb"bypass|compass|passed|passing|passive|passport|tokeni[sz]|secretar|tokens?_?count|authors?|"
    rb"author|authority|authoriz|authentic|oauth_?provider|keyboard|keyframe|keycode|monkey|"
    rb"turkey|hockey|jockey|whiskey|donkey|sidebar|side|inside|consider|aside|subsid|resid|outsid|"
    rb"basic|pass_?through|salt_?length)"
)
_PASSWORD_NAME = re.compile(rb"(?i)pass(?:word|wd|phrase)?|pwd")
# Session ids are secrets although their names end in ``id`` like harmless ids do.
_SESSION_NAME = re.compile(rb"(?i)(?:^|[^a-z])(?:sess(?:ion)?[_.\-]?id|sid|sessid)$")
_PLACEHOLDER = re.compile(
    rb"(?i)^(?:true|false|null|none|nil|undefined|yes|no|on|off|string|str|int|integer|number|"
    rb"boolean|bool|object|required|optional|redacted|secret|password|token|changeme|change_?me|"
    rb"example|placeholder|your[_\-]?[\w\-]*|[x*#]+(?:[_.\-][x*#]+)*|\.+|-+|<[^>]*>|"
    rb"\$\{[^}]*\}|\$\([^)]*\)|\$[A-Z_][A-Z0-9_]*|#\{[^}]*\}|@@[A-Za-z0-9_.\-]+@@|%[A-Z_][A-Z0-9_]*%|"
    rb"%\([^)]*\)s|\{\{[^}]*\}\}|\[REDACTED[^\]]*\])$"
)
_DOTTED_IDENTIFIER = re.compile(rb"^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+$")
# A segment no one would name a variable: 16+ characters mixing letters and digits.
_RANDOM_SEGMENT = re.compile(rb"(?:^|\.)(?=[A-Za-z_$]*[0-9])(?=[0-9_$]*[A-Za-z])[A-Za-z0-9_$]{16,}")
_CONNECTION_SCHEMES = re.compile(
    rb"(?i)^(?:postgres(?:ql)?|mysql|mariadb|mssql|sqlserver|oracle|mongodb(?:\+srv)?|redis|"
    rb"rediss|amqps?|kafka|nats|memcached|ldaps?|jdbc:[a-z]+|sqlite|cockroachdb|clickhouse|"
    rb"couchdb|neo4j|mqtts?|smtps?)(?:\+[a-z0-9]+)?$"
)


def is_harmless_name(name: str) -> bool:
    """A name that carries hashes, ids or settings (``token_hash``, ``session_timeout``)."""
    return _HARMLESS_NAME.search(name.encode("utf-8", "surrogatepass")) is not None


def is_session_name(name: str) -> bool:
    """A session id name (``sessionid``, ``sid``): a secret although it ends in ``id``."""
    return _SESSION_NAME.search(name.encode("utf-8", "surrogatepass")) is not None


def is_password_name(name: str) -> bool:
    """A name that says password."""
    return _PASSWORD_NAME.search(name.encode("utf-8", "surrogatepass")) is not None


def is_placeholder(value: str) -> bool:
    """A template, a type name or an example rather than a value (``${TOKEN}``, ``changeme``)."""
    return _PLACEHOLDER.match(value.encode("utf-8", "surrogatepass")) is not None


_NAME_MAX = 64
_LINE_LOOKBACK = 512
# camelCase names ending in a harmless word (``tokenEndpoint``, ``sessionTimeout``).
_HARMLESS_CAMEL = re.compile(
    rb"[a-z0-9](?:Id|Ids|Url|Uri|Path|File|Name|Type|Length|Len|Count|Size|Format|Prefix|Field|"
    rb"Label|Header|Param|Input|Policy|Mode|Method|Endpoint|Expires|Expiry|Ttl|Timeout|Max|Min|"
    rb"Enabled|Required|Placeholder|Storage|Store|KeyId|Hash|Digest|Version)$"
)
# A URL without a password in it: where a secret lives, not the secret (a password in
# it is found by the URL rule, a token in its query by the query rule).
_PUBLIC_LOCATION = re.compile(rb"^[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^:@/]*(?:[/?#]|$)")
# A value that names a password field rather than being one.
_NAMES_A_PASSWORD = re.compile(rb"(?i)^[a-z_.\-]*(?:pass(?:word|wd)?|pwd)[a-z_.\-]*$")


# ``n * log2(n)`` for the counts a candidate's bytes have: with it the entropy is
# ``log2(total) - sum(n log2 n) / total``, one table look-up per distinct byte instead of
# a division and a logarithm (entropy is the commonest check on dense text).
_N_LOG2_N = tuple(n * math.log2(n) if n else 0.0 for n in range(1025))


def _n_log2_n(n: int) -> float:
    return _N_LOG2_N[n] if n < len(_N_LOG2_N) else n * math.log2(n)


def entropy(value: bytes) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    total = len(value)
    counts = Counter(value).values()
    # Indexing the table in C, without a Python call per distinct byte, when it holds
    # every count (each is at most the value's length).
    spread = sum(map(_N_LOG2_N.__getitem__ if total < len(_N_LOG2_N) else _n_log2_n, counts))
    # Clamped: rounding may leave a value of one repeated byte a hair below zero.
    return max(0.0, math.log2(total) - spread / total)


_DIGITS = b"0123456789"
_UPPERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWERS = b"abcdefghijklmnopqrstuvwxyz"


def _kinds(value: bytes) -> tuple[bool, bool, bool, bool]:
    """Whether ``value`` has digits, upper case, lower case and other characters."""
    # ``translate`` deletes a class in C: three of them cost less than one regex search.
    no_digits = value.translate(None, _DIGITS)
    no_uppers = no_digits.translate(None, _UPPERS)
    no_letters = no_uppers.translate(None, _LOWERS)
    return (
        len(no_digits) < len(value),
        len(no_uppers) < len(no_digits),
        len(no_letters) < len(no_uppers),
        len(no_letters) > 0,
    )


def _classes(value: bytes) -> int:
    """How many of digits, upper case, lower case and other characters ``value`` has."""
    return sum(_kinds(value))


def looks_random(value: bytes, min_length: int = 12) -> bool:
    """A value that reads like a generated secret rather than a word or an identifier."""
    size = len(value)
    if size < min_length:
        return False
    if _DOT in value and _DOTTED_IDENTIFIER.match(value) and not _RANDOM_SEGMENT.search(value):
        # ``e.target.value`` in minified code; a signed cookie (``payload.ts.signature``)
        # also reads as dotted names, but has long segments of mixed letters and digits.
        return False
    digit, upper, lower, other = _kinds(value)
    if not (digit and (upper or lower)) and size < 32:
        return False
    # The entropy last: it counts every byte, the rest only deletes classes in C.
    return digit + upper + lower + other >= 2 and entropy(value) >= (3.0 if size < 24 else 3.3)


def _base62_crc(payload: bytes) -> bytes:
    crc = zlib.crc32(payload)
    out = bytearray()
    while crc:
        crc, rest = divmod(crc, 62)
        out.append(_BASE62[rest])
    return bytes(reversed(out)).rjust(6, b"0")


_GITHUB_KINDS = {
    b"ghp": "github_token",
    b"gho": "github_oauth_token",
    b"ghu": "github_app_token",
    b"ghs": "github_app_token",
    b"ghr": "github_refresh_token",
}


def checksum_holds(token: bytes) -> bool:
    """Whether a GitHub or npm token ends in the base62 CRC32 of its 30 random characters."""
    return _base62_crc(token[4:34]) == token[34:40]


def github_token(text: bytes, start: int, end: int, kind: str) -> str | None:
    """The kind of a GitHub token, by its prefix.

    The base62 CRC32 it ends in is not required: a token with a vendor prefix and a bad
    checksum may be mistyped, truncated or a format we have not seen, and a miss leaks
    while an extra redaction costs a few characters of evidence.
    """
    return _GITHUB_KINDS[text[start : start + 3]]


def npm_token(text: bytes, start: int, end: int, kind: str) -> str | None:
    """npm tokens: redacted by their prefix, like GitHub's, checksum or not."""
    return kind


def stripe_kind(text: bytes, start: int, end: int, kind: str) -> str | None:
    """Secret (``sk_``) or restricted (``rk_``) key."""
    return "stripe_restricted_key" if text[start : start + 3] == b"rk_" else "stripe_secret_key"


def pem_kind(text: bytes, start: int, end: int, kind: str) -> str | None:
    """PGP blocks get a kind of their own."""
    return "pgp_private_key" if b"PGP" in text[start:end] else "private_key"


def not_followed_by_base64(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A 40-character key must not be the start of a longer base64 run."""
    return kind if end >= len(text) or text[end] not in _B64_CHARS else None


def standalone(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A token with a base64-letter prefix must not be a slice of a longer base64 run.

    Zero bytes encode as ``AAAA``, so an image's data URI can hold ``/AAAAAAAAAAAAAAAAAAAAAA``
    followed by base64 that reads like a Twitter bearer token or a Square ``EAAA`` token.
    """
    before = text[start - 1 : start]
    after = text[end : end + 1]
    if before and before in b"+/-":
        return None
    return None if after and after in _TOKEN_GLUE else kind


def jwt(text: bytes, start: int, end: int, kind: str) -> str | None:
    """The header must decode to a JSON object naming an algorithm."""
    header = text[start : text.index(b".", start)]
    try:
        decoded = base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4))
    except (binascii.Error, ValueError):
        return None
    return kind if decoded.startswith(b"{") and b'"alg"' in decoded else None


def bearer(text: bytes, start: int, end: int, kind: str) -> str | None:
    """Anything after ``Bearer`` that is not an English word."""
    value = text[start:end]
    if _PLACEHOLDER.match(value) or value.isalpha() and len(value) < 24:
        return None
    return kind


def authorization(text: bytes, start: int, end: int, kind: str) -> str | None:
    """Credentials of another Authorization scheme, unless a placeholder or a variable."""
    value = text[start:end].rstrip()
    if _PLACEHOLDER.match(value) or _DOTTED_IDENTIFIER.match(value) or value.isalpha():
        return None
    return kind


def basic_auth(text: bytes, start: int, end: int, kind: str) -> str | None:
    """Basic credentials decode to ``user:password``; a JWT sent as Basic is a JWT."""
    value = text[start:end]
    if value.count(b".") == 2 and value.startswith(b"eyJ"):
        return jwt(text, start, end, "jwt")
    try:
        decoded = base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return kind if b":" in decoded else None


def url_password(text: bytes, start: int, end: int, kind: str) -> str | None:
    """Password in URL userinfo; database and broker URLs are connection strings."""
    scheme_end = text.rfind(b"://", max(0, start - 512), start)
    scheme_start = scheme_end
    while scheme_start > max(0, scheme_end - 32) and (
        text[scheme_start - 1 : scheme_start].isalnum() or text[scheme_start - 1] in b"+.-:"
    ):
        scheme_start -= 1
    if _PLACEHOLDER.match(text[start:end]):
        return None
    scheme = text[scheme_start:scheme_end]
    return "connection_string_password" if _CONNECTION_SCHEMES.match(scheme) else kind


def query_value(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A query or fragment value named like a secret; short ``key``/``code`` values are kept."""
    value = text[start:end]
    name_start = start - 1  # the rule ends the name with ``=``
    # The rule's names are short: looking back further would make a line of thousands
    # of candidates quadratic.
    floor = max(0, name_start - _NAME_MAX)
    separator = max(text.rfind(mark, floor, name_start) for mark in (b"?", b"&", b";", b"#"))
    name = text[separator + 1 : name_start].lower()
    if _PLACEHOLDER.match(value):
        return None
    if (
        name in (b"key", b"code", b"auth", b"pass", b"session", b"sid", b"sig", b"ticket")
        and len(value) < 8
    ):
        return None
    if name in (b"password", b"pwd", b"passwd", b"pass"):
        # ``;`` separates a connection string's fields, unless it ends an HTML ``&amp;``.
        if text[separator : separator + 1] == b";" and text[separator - 4 : separator] != b"&amp":
            return "connection_string_password"  # ``Server=db;User Id=app;Password=…``
        return "password"  # a login form's body or a URL carrying one
    return kind


# ``&lt;`` and ``&quot;`` end in ``;`` without separating connection-string fields.
_ENTITY = re.compile(rb"&[A-Za-z#0-9]{1,8};")


# What a name says is cached by the name: evidence repeats a few names (``password``,
# ``api_key``) in many places, and each of these searches tries every alternative of a
# long regex at every byte. Names are at most ``_NAME_MAX`` bytes, so the caches stay small.
_NAME_CACHE = 4096


@functools.lru_cache(maxsize=_NAME_CACHE)
def _harmless(name: bytes) -> bool:
    """A name that carries hashes, ids or settings (``token_hash``, ``twitter_url``)."""
    return _HARMLESS_NAME.search(name) is not None


@functools.lru_cache(maxsize=_NAME_CACHE)
def _names_no_secret(name: bytes) -> bool:
    """A name of a hash, an id or a setting (``token_hash``, ``sessionTimeout``)."""
    return bool(
        (_harmless(name) or _HARMLESS_CAMEL.search(name)) and not _SESSION_NAME.search(name)
    )


@functools.lru_cache(maxsize=_NAME_CACHE)
def _names_password(name: bytes) -> bool:
    """A name that says password (``DB_PASSWORD``, ``pwd``)."""
    return _PASSWORD_NAME.search(name) is not None


def secret_name(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A value of a secret's shape, unless its name says it is an id or a setting."""
    return None if _names_no_secret(_name_before(text, start)[1]) else kind


def _in_url(text: bytes, name_start: int, start: int) -> bool:
    """Whether a ``name:value`` is part of a URL: its scheme, or its ``user:password``.

    A word in a random token (``…FjPwDa…`` reads ``pwd``) or glued before a scheme
    (``PASShttps://``) is no name: the URL rules find what the URL holds, and a value run
    on over the host would take it into the marker.
    """
    scheme = text[start - 1 : start] == b":" and text.startswith(b"//", start)
    return scheme or text.endswith(b"://", 0, name_start)


def assignment(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A value assigned to a secret-like name: passwords always, other names when random."""
    # Every walk back is bounded, so a line of thousands of candidates stays linear.
    name_start, name = _name_before(text, start)
    value = text[start:end]
    if (
        _PLACEHOLDER.match(value)
        or is_example_token(value)
        or _names_no_secret(name)
        or _PUBLIC_LOCATION.match(value)
        or _in_url(text, name_start, start)
    ):
        return None
    spaced = _SPACE in value or _TAB in value
    if _names_password(name):
        if _NAMES_A_PASSWORD.match(value):
            return None  # ``current-password``, ``password_confirmation``: a field's name
        line_start = max(
            text.rfind(b"\n", max(0, name_start - _LINE_LOOKBACK), name_start) + 1,
            name_start - _LINE_LOOKBACK,
        )
        before = _ENTITY.sub(b"", text[line_start:name_start])
        if _SEMICOLON in before and _EQUALS in before:
            # ``Server=db;User Id=app;Password=…``: any length is a password here.
            return "connection_string_password"
        if spaced:
            # Only quoted values hold spaces: a passphrase, unless it reads as a message.
            return "password" if _passphrase(value) else None
        quoted = text[start - 1 : start] in (b'"', b"'", b"`")
        # A quoted value is a string, not code: ``'OLifs99_eCx9.ZU'`` is a password,
        # while ``password:e.target.value`` in a minified bundle is an expression.
        if (
            len(value) >= 6
            and (quoted or _classes(value) >= 2)
            and (quoted or not _DOTTED_IDENTIFIER.match(value))
        ):
            return "password"
        return None
    if spaced:
        return None  # a quoted message next to ``token``: words are not a token
    return "generic_secret" if looks_random(value) else None


# A documented example or a template in a token's place: ``AKIAIOSFODNN7EXAMPLE``,
# ``sk_live_XXXXXXXXXXXXXXXX``, ``ghp_your-token-here``. A generated token never holds
# these runs (8 identical placeholder letters in base62 are about 1 in 10^14).
# The words are looked for with ``in`` on the lowered value, the shapes with one small
# regex: one alternation of both in Python ``re`` cost most of a candidate's check time.
_EXAMPLE_WORDS = ("example", "your_", "your-", "placeholder", "changeme", "dummy", "redacted")
# A template names a variable: ``@@DB_PASSWORD@@``. Bare ``@@`` is no template: Django's
# key alphabet has ``@``, and about one generated key in 50 holds ``@@``; its lower-case
# alphabet never spells an upper-case name.
_EXAMPLE_SHAPE = re.compile(
    rb"(?i:[_\-]here\b|[x*#]{8}|<[a-z_])|0{12}|\$\{|\{\{|@@[A-Z_][A-Z0-9_]*@@"
)


def is_example_token(value: bytes) -> bool:
    """A token-shaped value that is a documented example or a template, not a secret."""
    # Looked for in a ``str``: CPython 3.11 tries ``bytes in bytes`` as an integer first
    # and raises and clears a TypeError each time (about 0.5 µs), ten times ``str in str``.
    lowered = value.lower()
    lower = lowered.decode("latin-1")
    for word in _EXAMPLE_WORDS:
        if word in lower:
            return True
    # The shape regex only when a value holds what it looks for: it tries its every
    # alternative at every byte, and is the costliest step of the commonest check.
    if (
        "here" not in lower
        and "<" not in lower
        and "0" * 12 not in lower
        and "${" not in lower
        and "@@" not in lower
        and "{{" not in lower
        and _FILL_RUN not in lowered.translate(_FILL_MARKS).decode("latin-1")
    ):
        return False
    return _EXAMPLE_SHAPE.search(value) is not None


# ``[x*#]{8}`` without a regex: the fill characters all become NUL, then a run of 8 is
# one substring search (long base64 values hold eight ``x`` often, a run of them never).
_FILL_MARKS = bytes.maketrans(b"x*#", b"\0\0\0")
_FILL_RUN = "\0" * 8


_TYPE_WORDS = frozenset(
    b"string str &str &'static []byte byte[] char[] const final static var let val "
    b"secretstring securestring".split()
)


def _name_before(text: bytes, start: int) -> tuple[int, bytes]:
    """The identifier a value at ``start`` is assigned to, and where it starts.

    Walks back over quotes, operators (``=``, ``:=``, ``?=``, ``.=``, ``::=``...), HTML
    entities of ``>`` and quotes (``&lt;token&gt;``), and a type between the name and
    the operator (``var token string = …``, ``val token: String = …``).
    """
    position = start
    for _ in range(3):
        floor = max(0, position - 24)
        while position > floor:
            before = text[position - 1]
            if before in b" \t\"'`:=>\\?.+|!":
                position -= 1
            elif text.endswith((b"&gt;", b"&quot;", b"&#34;", b"&#39;"), floor, position):
                position = text.rfind(b"&", floor, position)
            else:
                break
        # ``rstrip`` walks the identifier back in C: a regex call per byte cost more.
        window = text[max(0, position - _NAME_MAX) : position]
        name_start = position - (len(window) - len(window.rstrip(_IDENT_BYTES)))
        name = text[name_start:position]
        if name.lower() not in _TYPE_WORDS:
            return name_start, name
        position = name_start
    return position, b""


# Sentence ends and format strings: a quoted text with spaces next to a password name
# that is a message (``"password": "Must be at least 8 characters."``), not a passphrase.
_MESSAGE = re.compile(rb"[.!?:]\s*$|%[sd]|\{[0-9a-z_]*\}|\$\{|\{\{")
_MAX_PASSPHRASE_WORDS = 10


def _passphrase(value: bytes) -> bool:
    """A value with spaces that reads as a passphrase rather than a message."""
    words = value.split()
    return 2 <= len(words) <= _MAX_PASSPHRASE_WORDS and not _MESSAGE.search(value)


def config_value(text: bytes, start: int, end: int, kind: str) -> str | None:
    """``<add key="Password" value="…"/>``: judged by the key's name, like an assignment."""
    value = text[start:end]
    key_at = text.rfind(b"key", max(0, start - 160), start)
    name = text[key_at + 3 : start]
    if _PLACEHOLDER.match(value) or _HARMLESS_NAME.search(name.split(b"value")[0]):
        return None
    if _PASSWORD_NAME.search(name):
        return "password" if b" " not in value.strip() or _passphrase(value) else None
    return "generic_secret" if looks_random(value, 8) else None


_BASE58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def bitcoin_wif(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A Bitcoin private key in WIF: base58 whose last 4 bytes are a double SHA-256 checksum."""
    number = 0
    for char in text[start:end]:
        number = number * 58 + _BASE58.index(char)
    raw = number.to_bytes(38, "big").lstrip(b"\0")
    payload, checksum = raw[:-4], raw[-4:]
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return kind if payload[:1] in (b"\x80", b"\xef") and digest == checksum else None


_VENDORS = (
    (b"adobe", "adobe_client_secret"),
    (b"alibaba", "alibaba_secret"),
    (b"aliyun", "alibaba_secret"),
    (b"asana", "asana_token"),
    (b"discord", "discord_client_secret"),
    (b"facebook", "facebook_secret"),
    (b"fb", "facebook_secret"),
    (b"heroku", "heroku_api_key"),
    (b"mailgun", "mailgun_api_key"),
    (b"datadog", "datadog_api_key"),
    (b"dd", "datadog_api_key"),
    (b"twilio", "twilio_auth_token"),
    (b"planetscale", "planetscale_token"),
    (b"pscale", "planetscale_token"),
    (b"square", "square_access_token"),
    (b"jfrog", "jfrog_token"),
    (b"artifactory", "jfrog_token"),
    (b"messagebird", "messagebird_api_key"),
    (b"message_bird", "messagebird_api_key"),
    (b"twitter", "twitter_secret"),
    (b"cloudflare", "cloudflare_api_key"),
    (b"cf", "cloudflare_api_key"),
    (b"flyio", "flyio_token"),
    (b"fly", "flyio_token"),
    (b"atlassian", "atlassian_api_token"),
    (b"jira", "atlassian_api_token"),
    (b"confluence", "atlassian_api_token"),
    (b"etsy", "etsy_api_key"),
    (b"easypost", "easypost_api_key"),
    (b"sumologic", "sumologic_key"),
    (b"sumo", "sumologic_key"),
    (b"sourcegraph", "sourcegraph_token"),
    (b"telegram", "telegram_bot_token"),
    (b"huggingface", "huggingface_token"),
    (b"hugging_face", "huggingface_token"),
    (b"hf", "huggingface_token"),
)
VENDOR_KINDS = frozenset(kind for _, kind in _VENDORS)
_VENDOR_KIND = dict(_VENDORS)
# Every place a vendor's word starts (a lookahead: words may overlap), the shortest word
# first at each: the last match is the vendor named nearest the value.
_VENDOR_WORD = re.compile(
    rb"(?=(" + b"|".join(re.escape(word) for word in sorted(_VENDOR_KIND, key=len)) + rb"))"
)
_ID_VALUE = re.compile(rb"^(?:[0-9]{15,}|[0-9a-fA-F]{24,}|su[A-Za-z0-9]{12})$")


def vendor_value(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A value assigned to a vendor's key, token, secret or id: named after the vendor."""
    value = text[start:end]
    _, name = _name_before(text, start)
    if _PLACEHOLDER.match(value) or _PUBLIC_LOCATION.match(value) or is_example_token(value):
        return None
    if _harmless(name) and not _ID_VALUE.match(value):
        return None  # ``twitter_url``, ``square_size``; but ``asana_client_id`` = 16 digits
    if not (looks_random(value, 10) or _ID_VALUE.match(value)):
        return None
    return _vendor_kind(name)


@functools.lru_cache(maxsize=_NAME_CACHE)
def _vendor_kind(name: bytes) -> str:
    """The kind of the vendor named nearest the end of ``name``; a generic secret if none."""
    last = deque(_VENDOR_WORD.finditer(name.lower()), maxlen=1)
    return _VENDOR_KIND[last[0][1]] if last else "generic_secret"


def named_value(text: bytes, start: int, end: int, kind: str) -> str | None:
    """A value whose name already says it is this kind of secret, unless a placeholder."""
    value = text[start:end]
    if _PLACEHOLDER.match(value) or is_example_token(value):
        return None
    return kind


def seed_phrase(text: bytes, start: int, end: int, kind: str) -> str | None:
    """12 to 24 lowercase words assigned to a mnemonic or seed name."""
    return kind if len(text[start:end].split()) in (12, 15, 18, 21, 24) else None


def curl_user(text: bytes, start: int, end: int, kind: str) -> str | None:
    """``curl -u user:password``; ``-u 1000:1000`` (a uid and gid) and templates are kept."""
    value = text[start:end]
    user, _, password = value.partition(b":")
    if password.isdigit() and user.isdigit() or _PLACEHOLDER.match(password):
        return None
    if not password or password.startswith(b"$"):
        return None
    return kind


def user_is_credential(user: bytes, password: bytes) -> bool:
    """Whether a URL's user part is itself a secret (an API key as the user name).

    Sidekiq's gem server takes ``cafebabe:deadbeef`` as user and password; GitHub takes
    ``<token>:x-oauth-basic``: when the user looks generated, redacting only the
    password would leave the credential.
    """
    if looks_random(user, 12) and not _DOTTED_IDENTIFIER.match(user):
        return True
    hexes = b"0123456789abcdefABCDEF"
    return len(user) >= 8 and user.strip(hexes) == b"" and password.strip(hexes) == b""
