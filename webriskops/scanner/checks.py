"""The passive checks: what each finding is, how bad, and how to fix and reproduce it.

Every check reads what the crawl already fetched (plus a short list of probes for
files that should never be public); none sends a request of its own or changes
anything on the site. Each finding carries a stable fingerprint, a hash of its type
and its scope (the origin for a site-wide header, the URL of a page or a resource, a
cookie's name), so the same problem on the next scan gets the same fingerprint and the
report can tell new, recurring and resolved findings apart. Evidence is quoted from
the answer, with cookie values left out and secrets redacted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

from webriskops.redaction import redact
from webriskops.scanner.crawler import Crawl, Page, normalize
from webriskops.scanner.fetch import Response, origin_of
from webriskops.scanner.settings import ScannerSettings

HSTS_MIN_AGE = 15_552_000  # 180 days, the common floor (and the preload list asks a year)
_VERSION = re.compile(r"\d+\.\d+|/\s*v?\d")
_MARKER = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")
_SESSION_COOKIE = re.compile(r"sess|sid|auth|token|login|remember|jwt|csrf|xsrf", re.I)
# Values the redaction engine rightly hides but that a page is meant to carry.
_PAGE_TOKEN_NAME = re.compile(r"csrf|xsrf|nonce|integrity|captcha", re.I)
_LISTING = re.compile(r"^(index of /|directory listing for /)", re.I)
MAX_EVIDENCE = 4000


@dataclass(frozen=True)
class Finding:
    """One problem found on one page; findings with one fingerprint form one issue."""

    category: str
    type: str
    severity: str
    title: str
    description: str
    scope: str
    evidence: str
    impact: str
    remediation: str
    steps: tuple[str, ...]
    confidence: int = 100

    @property
    def fingerprint(self) -> str:
        """``<type>:<hash of type and scope>``: the same problem, the same fingerprint."""
        digest = hashlib.sha256(f"{self.type}\n{self.scope}".encode()).hexdigest()[:32]
        return f"{self.type}:{digest}"

    def as_issue(self) -> dict:
        """The finding as an ``issues[]`` entry of the results payload (contract 3.3)."""
        return {
            "category": self.category,
            "type": self.type,
            "severity": self.severity,
            "title": self.title[:300],
            "description": self.description[:10000],
            "fingerprint": self.fingerprint,
            "confidence": self.confidence,
            "evidence": self.evidence[:MAX_EVIDENCE],
            "businessImpact": self.impact[:10000],
            "suggestedRemediation": self.remediation[:10000],
            "reproductionSteps": [step[:2000] for step in self.steps[:50]],
        }


def _curl_head(url: str) -> str:
    return f"Run `curl -s -D - -o /dev/null {url}` to see the response headers."


# --- security headers -----------------------------------------------------------------


def _csp_directives(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.strip().split()
        if tokens and tokens[0].lower() not in directives:
            directives[tokens[0].lower()] = [token.lower() for token in tokens[1:]]
    return directives


def check_security_headers(page: Page, origin: str) -> Iterator[Finding]:
    """HSTS (HTTPS), CSP, X-Content-Type-Options, Referrer-Policy and frame protection."""
    response = page.response
    url = response.url
    https = url.startswith("https://")
    steps = (f"Open {url}.", _curl_head(url))
    if https:
        hsts = response.header("strict-transport-security")
        if hsts is None:
            yield Finding(
                "security", "missing-hsts", "medium",
                "Strict-Transport-Security header missing",
                "The site is served over HTTPS but does not tell browsers to always use "
                "HTTPS (HSTS), so a first visit or a typed http:// address can be downgraded.",
                origin, f"GET {url} -> {response.status}; no Strict-Transport-Security header",
                "An attacker on the visitor's network can strip TLS and read or change the "
                "traffic, including credentials and session cookies.",
                "Send `Strict-Transport-Security: max-age=31536000; includeSubDomains` on "
                "every HTTPS response.",
                steps + ("The answer has no Strict-Transport-Security header.",),
            )  # fmt: skip
        else:
            match = re.search(r"max-age\s*=\s*\"?(\d+)", hsts, re.I)
            age = int(match.group(1)) if match else 0
            if age < HSTS_MIN_AGE:
                yield Finding(
                    "security", "weak-hsts", "low",
                    "Strict-Transport-Security max-age is too short",
                    f"HSTS is sent with max-age={age} seconds; browsers forget the rule "
                    f"quickly and visitors fall back to downgradable HTTP.",
                    origin, f"Strict-Transport-Security: {hsts}",
                    "Returning visitors lose the HTTPS-only protection after a short time.",
                    f"Raise max-age to at least {HSTS_MIN_AGE} (180 days); a year is usual.",
                    steps + (f"The header says: Strict-Transport-Security: {hsts}",),
                )  # fmt: skip
    csp = response.header("content-security-policy")
    directives = _csp_directives(csp) if csp else {}
    if csp is None:
        yield Finding(
            "security", "missing-csp", "medium",
            "Content-Security-Policy header missing",
            "No Content-Security-Policy limits where scripts, styles and frames may load "
            "from, so an injected script runs with the page's full rights.",
            origin, f"GET {url} -> {response.status}; no Content-Security-Policy header",
            "A cross-site scripting flaw anywhere on the site can steal sessions and data.",
            "Send a Content-Security-Policy, e.g. `default-src 'self'; object-src 'none'; "
            "frame-ancestors 'none'`, and tighten it page by page.",
            steps + ("The answer has no Content-Security-Policy header.",),
        )  # fmt: skip
    else:
        scripts = directives.get("script-src", directives.get("default-src", []))
        has_nonce = any(
            s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) for s in scripts
        )
        weak = [s for s in scripts if s in ("*", "http:", "https:", "data:", "'unsafe-eval'")]
        if "'unsafe-inline'" in scripts and not has_nonce:
            weak.append("'unsafe-inline'")
        if weak or not scripts:
            reason = ", ".join(weak) if weak else "no script-src or default-src"
            yield Finding(
                "security", "weak-csp", "low",
                "Content-Security-Policy allows arbitrary scripts",
                f"The policy's script sources ({reason}) still let injected scripts run.",
                origin, f"Content-Security-Policy: {csp}",
                "The policy gives little protection against cross-site scripting.",
                "Remove 'unsafe-inline', 'unsafe-eval' and wildcard sources from script-src; "
                "use nonces or hashes for the inline scripts you need.",
                steps + (f"The header says: Content-Security-Policy: {csp}",),
            )  # fmt: skip
    nosniff = (response.header("x-content-type-options") or "").strip().lower()
    if nosniff != "nosniff":
        yield Finding(
            "security", "missing-x-content-type-options", "low",
            "X-Content-Type-Options: nosniff missing",
            "Without `nosniff` browsers may guess a response's type and run an uploaded "
            "file as a script or stylesheet.",
            origin,
            f"GET {url} -> {response.status}; X-Content-Type-Options: "
            f"{response.header('x-content-type-options') or '(absent)'}",
            "User-supplied files can be turned into scripts (MIME confusion attacks).",
            "Send `X-Content-Type-Options: nosniff` on every response.",
            steps + ("The answer has no X-Content-Type-Options: nosniff header.",),
        )  # fmt: skip
    referrer = (response.header("referrer-policy") or "").strip().lower()
    if not referrer or "unsafe-url" in referrer or referrer == "no-referrer-when-downgrade":
        yield Finding(
            "privacy", "missing-referrer-policy", "low",
            "Referrer-Policy missing or too permissive",
            "Full page addresses, with their paths and query strings, may be sent to other "
            "sites as the Referer header.",
            origin, f"GET {url} -> {response.status}; Referrer-Policy: {referrer or '(absent)'}",
            "Tokens or personal data in URLs can leak to third parties.",
            "Send `Referrer-Policy: strict-origin-when-cross-origin` (or `no-referrer`).",
            steps + (f"The Referrer-Policy is {referrer or 'absent'}.",),
        )  # fmt: skip
    frame_options = (response.header("x-frame-options") or "").strip().lower()
    if frame_options not in ("deny", "sameorigin") and "frame-ancestors" not in directives:
        yield Finding(
            "security", "missing-frame-protection", "medium",
            "Page can be framed by other sites (clickjacking)",
            "Neither X-Frame-Options nor a CSP frame-ancestors directive stops other sites "
            "from embedding the page in a frame.",
            origin, f"GET {url} -> {response.status}; no X-Frame-Options, no frame-ancestors",
            "A hostile page can overlay the site and trick visitors into clicking buttons.",
            "Send `Content-Security-Policy: frame-ancestors 'none'` (or 'self'), and "
            "`X-Frame-Options: DENY` for old browsers.",
            steps + ("The answer has neither X-Frame-Options nor frame-ancestors.",),
        )  # fmt: skip


# --- cookies ------------------------------------------------------------------------------


def _cookie(header: str) -> tuple[str, set[str], str]:
    """Name, lower-case attribute names and the header with its value redacted."""
    first, *attributes = header.split(";")
    name = first.split("=", 1)[0].strip()
    names = {attribute.split("=", 1)[0].strip().lower() for attribute in attributes}
    shown = "; ".join(
        [f"{name}=[REDACTED:cookie]"] + [attribute.strip() for attribute in attributes]
    )
    return name, names, f"Set-Cookie: {shown}"


def check_cookies(page: Page, origin: str) -> Iterator[Finding]:
    """Cookies set without Secure (on HTTPS), HttpOnly or SameSite."""
    response = page.response
    https = response.url.startswith("https://")
    for header in response.header_values("set-cookie"):
        name, attributes, evidence = _cookie(header)
        if not name:
            continue
        session_like = bool(_SESSION_COOKIE.search(name))
        steps = (
            f"Open {response.url} in a fresh private window.",
            _curl_head(response.url),
            f"Look at the Set-Cookie header of the cookie `{name}`.",
        )
        if https and "secure" not in attributes:
            yield Finding(
                "security", "cookie-without-secure", "medium" if session_like else "low",
                f"Cookie `{name}` set without the Secure flag",
                f"The cookie `{name}` may also be sent over plain HTTP.",
                f"{origin} {name}", evidence,
                "Anyone on the visitor's network can read the cookie from an HTTP request.",
                "Add `Secure` to the cookie's attributes.",
                steps,
            )  # fmt: skip
        if "httponly" not in attributes:
            yield Finding(
                "security", "cookie-without-httponly", "medium" if session_like else "low",
                f"Cookie `{name}` readable by scripts (no HttpOnly)",
                f"The cookie `{name}` is readable from JavaScript.",
                f"{origin} {name}", evidence,
                "A cross-site scripting flaw can steal the cookie"
                + (" and take over the session." if session_like else "."),
                "Add `HttpOnly` unless scripts really need to read the cookie.",
                steps,
            )  # fmt: skip
        if "samesite" not in attributes:
            yield Finding(
                "security", "cookie-without-samesite", "low",
                f"Cookie `{name}` set without SameSite",
                f"The cookie `{name}` does not say whether other sites may send it along.",
                f"{origin} {name}", evidence,
                "Cross-site requests can carry the cookie, which helps CSRF attacks "
                "in browsers that do not default to Lax.",
                "Add `SameSite=Lax` (or `Strict`) to the cookie.",
                steps,
            )  # fmt: skip


# --- mixed content and forms ---------------------------------------------------------------


def _base(page: Page) -> str:
    document = page.document
    return urljoin(page.response.url, document.base_href or "") if document else page.response.url


def check_mixed_content(page: Page, origin: str) -> Iterator[Finding]:
    """Subresources loaded over HTTP by an HTTPS page."""
    if not page.response.url.startswith("https://"):
        return
    base = _base(page)
    for src, kind, tag in page.document.subresources:
        target = urljoin(base, src)
        if not target.lower().startswith("http://"):
            continue
        active = kind == "active"
        yield Finding(
            "security", f"mixed-content-{kind}", "high" if active else "low",
            ("Script or frame loaded over HTTP on an HTTPS page" if active
             else "Image or media loaded over HTTP on an HTTPS page"),
            f"The HTTPS page loads {target} over plain HTTP.",
            target.split("#", 1)[0], f"{page.response.url}: {tag}",
            ("A network attacker can replace the resource and run code in the page; "
             "browsers block it, so the page may also be broken." if active else
             "A network attacker can see or swap the resource; browsers warn visitors."),
            "Load the resource over HTTPS (or from the site itself).",
            (f"Open {page.response.url} with the browser's developer tools.",
             f"The console reports mixed content for {target}."),
        )  # fmt: skip


def check_forms(page: Page, origin: str) -> Iterator[Finding]:
    """Forms that send their data, passwords above all, over plain HTTP."""
    url = page.response.url
    https = url.startswith("https://")
    base = _base(page)
    for form in page.document.forms:
        target = normalize(urljoin(base, form.action or "")).split("?", 1)[0]
        if https and target.startswith("http://"):
            yield Finding(
                "security", "form-posts-over-http", "high" if form.has_password else "medium",
                "Form on an HTTPS page submits over HTTP",
                f"A form on {url} sends its data to {target} without encryption.",
                target, form.tag,
                "What visitors type (passwords, personal data) crosses the network in clear.",
                "Point the form's action at an https:// URL (or a relative one).",
                (f"Open {url}.", f"Inspect the form: its action is {target}."),
            )  # fmt: skip
        elif not https and form.has_password:
            yield Finding(
                "security", "password-form-over-http", "high",
                "Password form served and submitted over HTTP",
                f"The page {url} asks for a password over plain HTTP.",
                target, form.tag,
                "Passwords can be read or the form changed by anyone on the network path.",
                "Serve the site over HTTPS only and redirect HTTP to HTTPS.",
                (f"Open {url}: the address bar shows it is not secure.",
                 "The form has a password field."),
            )  # fmt: skip


# --- disclosure and exposure --------------------------------------------------------------

VERSION_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version",
                   "x-generator")  # fmt: skip


def check_version_disclosure(page: Page, origin: str) -> Iterator[Finding]:
    """Server and framework versions in headers or the generator meta tag."""
    response = page.response
    for name in VERSION_HEADERS:
        value = response.header(name)
        if value and _VERSION.search(value):
            yield Finding(
                "security", "version-disclosure", "low",
                f"Software version disclosed in the {name} header",
                f"The {name} header names software and its version: {value[:200]}.",
                f"{origin} header {name}", f"{name}: {value[:500]}",
                "Attackers can look up known vulnerabilities of that exact version.",
                f"Remove the version from the {name} header (or the header altogether).",
                (f"Open {response.url}.", _curl_head(response.url),
                 f"The {name} header says: {value[:200]}"),
            )  # fmt: skip
    generator = page.document.generator if page.document else None
    if generator and _VERSION.search(generator):
        yield Finding(
            "security", "version-disclosure", "low",
            "Software version disclosed in the generator meta tag",
            f"The page says it was generated by {generator[:200]}.",
            f"{origin} meta generator", f'<meta name="generator" content="{generator[:500]}">',
            "Attackers can look up known vulnerabilities of that exact version.",
            "Remove the generator meta tag or its version number.",
            (f"View the source of {response.url}.", "Find the generator meta tag."),
        )  # fmt: skip


def check_directory_listing(page: Page, origin: str) -> Iterator[Finding]:
    """A server-generated index of a folder's files."""
    document = page.document
    texts = [document.title or ""] + document.headings[:1]
    if any(_LISTING.match(text) for text in texts):
        url = page.response.url
        yield Finding(
            "security", "directory-listing", "medium",
            "Directory listing enabled",
            f"{url} lists the files of a folder on the server.",
            url.split("?", 1)[0], f"GET {url} -> {page.response.status}; title: {document.title}",
            "Visitors can browse and download files never meant to be linked, such as "
            "backups, logs or configuration.",
            "Turn off automatic indexes (`autoindex off` in nginx, `Options -Indexes` in "
            "Apache) and remove files that should not be public.",
            (f"Open {url}: the page lists the folder's files.",),
        )  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """A path that should never answer with its real content on a public site."""

    path: str
    type: str
    severity: str
    what: str
    looks_real: Callable[[bytes], bool]


def _not_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return not head.startswith((b"<!doctype", b"<html", b"<head", b"<body"))


PROBES: tuple[Probe, ...] = (
    Probe("/.env", "exposed-env-file", "high", "an environment file with settings and secrets",
          lambda b: _not_html(b) and re.search(rb"(?m)^[A-Z][A-Z0-9_]{1,64}=", b) is not None),
    Probe("/.git/HEAD", "exposed-git-repository", "high", "the site's Git repository",
          lambda b: re.match(rb"ref: refs/|[0-9a-f]{40}\s*$", b) is not None),
    Probe("/.git/config", "exposed-git-repository", "high", "the site's Git repository",
          lambda b: b"[core]" in b[:2048] and _not_html(b)),
    Probe("/.htpasswd", "exposed-password-file", "high", "a password hash file",
          lambda b: re.search(rb"(?m)^[^:\s<]+:(\$apr1\$|\$2[aby]\$|\{SHA\}|\$[156]\$)", b)
          is not None),
    Probe("/backup.sql", "exposed-backup-file", "high", "a database dump",
          lambda b: _not_html(b) and re.search(rb"CREATE TABLE|INSERT INTO", b[:65536])
          is not None),
    Probe("/backup.zip", "exposed-backup-file", "high", "a backup archive",
          lambda b: b.startswith(b"PK\x03\x04")),
    Probe("/wp-config.php.bak", "exposed-backup-file", "high", "a configuration backup",
          lambda b: b"DB_PASSWORD" in b or b"<?php" in b[:64]),
    Probe("/.DS_Store", "exposed-ds-store", "low", "a macOS folder index naming files",
          lambda b: b[4:8] == b"Bud1"),
)  # fmt: skip
PROBE_PATHS = tuple(probe.path for probe in PROBES)


def _excerpt(body: bytes) -> str:
    if not _not_html(body) or b"\x00" in body[:512]:
        return f"({len(body)} bytes, starting with {body[:8]!r})"
    lines = body[:4096].decode("utf-8", "replace").splitlines()[:5]
    return redact("\n".join(lines))


def check_probes(crawl: Crawl) -> Iterator[Finding]:
    """Well-known files answering with their real content."""
    for probe in PROBES:
        response: Response | None = crawl.probes.get(probe.path)
        if response is None or response.status != 200 or not probe.looks_real(response.body):
            continue
        url = crawl.origin + probe.path
        yield Finding(
            "security", probe.type, probe.severity,
            f"{probe.path} is publicly readable",
            f"{url} serves {probe.what} to anyone who asks.",
            url, f"GET {url} -> 200\n{_excerpt(response.body)}",
            "Attackers collect such files automatically; they hand over secrets, source "
            "code or data and make every other attack easier.",
            f"Remove {probe.path} from the web root (or deny it in the server "
            "configuration), then rotate every secret it contained.",
            (f"Run `curl -s {url}`.", f"The answer is {probe.what}, not a 404."),
        )  # fmt: skip


# --- content, accessibility, performance ---------------------------------------------------


def check_content(page: Page, origin: str, settings: ScannerSettings) -> Iterator[Finding]:
    """Images without alternative text, missing title or language, slow pages."""
    url = page.response.url
    document = page.document
    base = _base(page)
    for src, tag in document.images_without_alt:
        target = urljoin(base, src) if src else url + " (image without src)"
        yield Finding(
            "accessibility", "image-missing-alt", "low",
            "Image without alternative text",
            f"An image ({target}) has no alt attribute, so screen readers announce "
            "its file name or nothing useful.",
            target.split("#", 1)[0], tag,
            "Visitors who use screen readers miss the image's content; it also weakens "
            "accessibility compliance (WCAG 1.1.1).",
            'Add an alt attribute describing the image, or alt="" when it is decorative.',
            (f"View the source of {url}.", f"Find the tag {tag[:200]}: it has no alt."),
        )  # fmt: skip
    if not document.title:
        yield Finding(
            "seo", "missing-title", "low",
            "Page without a title",
            f"{url} has no <title>, or an empty one.",
            url, f"GET {url} -> {page.response.status}; <title> missing or empty",
            "Search results and browser tabs show the bare address; the page ranks worse.",
            "Give every page a short, unique <title>.",
            (f"View the source of {url}: there is no <title>.",),
        )  # fmt: skip
    if not document.lang:
        yield Finding(
            "accessibility", "missing-lang", "low",
            "Page language not declared",
            f"The <html> element of {url} has no lang attribute.",
            url, "<html> without lang" if document.has_html_tag else "no <html> element",
            "Screen readers may read the page with the wrong pronunciation (WCAG 3.1.1).",
            'Declare the language, e.g. <html lang="en">.',
            (f"View the source of {url}: the <html> tag has no lang.",),
        )  # fmt: skip
    elapsed = page.response.elapsed_ms
    if elapsed > settings.slow_page_ms:
        yield Finding(
            "performance", "slow-page", "medium" if elapsed > 3 * settings.slow_page_ms else "low",
            "Slow page",
            f"{url} took {elapsed} ms to answer (the threshold is {settings.slow_page_ms} ms).",
            url, f"GET {url} -> {page.response.status} in {elapsed} ms",
            "Slow pages lose visitors and rank lower in search results.",
            "Profile the page on the server (database queries, external calls) and cache "
            "what does not change per visitor.",
            (f"Run `curl -s -o /dev/null -w '%{{time_total}}' {url}` a few times.",),
            confidence=80,
        )  # fmt: skip


def check_secrets(page: Page, origin: str) -> Iterator[Finding]:
    """Secrets in the page source, found by the redaction engine; evidence stays redacted."""
    text = page.response.text()
    redacted = redact(text)
    if redacted == text:
        return
    snippets: dict[str, list[str]] = {}
    for match in _MARKER.finditer(redacted):
        kind = match.group(1)
        before = redacted[max(0, match.start() - 60) : match.start()]
        if kind == "cookie" or (kind == "generic_secret" and _PAGE_TOKEN_NAME.search(before)):
            continue
        snippet = redacted[max(0, match.start() - 60) : match.end() + 40]
        snippets.setdefault(kind, []).append(" ".join(snippet.split()))
    url = page.response.url
    for kind, found in snippets.items():
        generic = kind in ("generic_secret", "password")
        yield Finding(
            "security", "secret-in-page-source", "high",
            f"Secret in page source ({kind.replace('_', ' ')})",
            f"The source of {url} contains what looks like a {kind.replace('_', ' ')}.",
            f"{url} {kind}", "\n".join(found[:5]),
            "Anyone can read the page source: the secret gives access to whatever it "
            "protects (accounts, payment providers, cloud resources).",
            "Remove the secret from the page, rotate it now, and keep secrets on the "
            "server side only.",
            (f"View the source of {url}.", f"Search for the {kind.replace('_', ' ')} "
             "shown (redacted) in the evidence."),
            confidence=60 if generic else 90,
        )  # fmt: skip


# --- reliability -----------------------------------------------------------------------------


def check_broken(page: Page) -> Iterator[Finding]:
    """Links to pages that answer 4xx/5xx or not at all."""
    if page.response is not None:
        status = page.response.status
        if status < 400:
            return
        server = status >= 500
        yield Finding(
            "reliability", "server-error" if server else "broken-link",
            "medium" if server else "low",
            f"{'Server error' if server else 'Broken link'}: {page.url} answers {status}",
            f"{page.url} answers HTTP {status}"
            + (f"; it is linked from {', '.join(page.referrers[:3])}." if page.referrers else "."),
            page.url, f"GET {page.url} -> {status}",
            "Visitors hit an error page; search engines lower the site's ranking."
            + (" A server error can also hide a crash that leaks details." if server else ""),
            "Fix the page, or update or remove the links to it."
            + (" Look at the server's error log for this URL." if server else ""),
            (f"Open {page.referrers[0] if page.referrers else page.url}.",
             f"Follow the link to {page.url}: it answers {status}."),
        )  # fmt: skip
    elif page.error is not None and page.error.code not in (
        "BLOCKED_DESTINATION",
        "REDIRECT_OFF_ORIGIN",
    ):
        yield Finding(
            "reliability", "broken-link", "low",
            f"Broken link: {page.url} does not answer",
            f"{page.url} gave no answer ({page.error.code}: {page.error.message}).",
            page.url, f"GET {page.url} -> {page.error.code}",
            "Visitors following the link get a browser error.",
            "Fix the page, or update or remove the links to it.",
            (f"Open {page.referrers[0] if page.referrers else page.url}.",
             f"Follow the link to {page.url}: it does not answer."),
            confidence=80,
        )  # fmt: skip


# --- all together ------------------------------------------------------------------------------


def run_checks(crawl: Crawl, settings: ScannerSettings) -> dict[str, list[Finding]]:
    """Every finding, keyed by the (final) URL of the page it is reported on."""
    findings: dict[str, list[Finding]] = {}
    home = crawl.pages[0].final_url

    def add(url: str, found: Iterator[Finding]) -> None:
        findings.setdefault(url, []).extend(found)

    for page in crawl.pages:
        if page.response is not None and page.is_html:
            origin = origin_of(page.response.url)
            add(page.final_url, check_secrets(page, origin))
            if 200 <= page.response.status < 300:
                add(page.final_url, check_security_headers(page, origin))
                add(page.final_url, check_cookies(page, origin))
                add(page.final_url, check_mixed_content(page, origin))
                add(page.final_url, check_forms(page, origin))
                add(page.final_url, check_version_disclosure(page, origin))
                add(page.final_url, check_directory_listing(page, origin))
                add(page.final_url, check_content(page, origin, settings))
        elif page.response is not None:
            add(page.final_url, check_cookies(page, origin_of(page.response.url)))
        # A broken page is reported where visitors meet it: on the pages linking to it.
        for finding in check_broken(page):
            for referrer in page.referrers or [page.final_url]:
                findings.setdefault(referrer, []).append(finding)
    # Exposed files are not pages anyone links to: they are reported on the home page.
    add(home, check_probes(crawl))
    return findings
