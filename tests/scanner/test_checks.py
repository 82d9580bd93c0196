"""Each passive check: what it finds (type, severity, evidence), what it leaves alone,
and fingerprints that stay the same from one scan to the next.
"""

from __future__ import annotations

import re

import pytest

from tests.scanner.conftest import make_settings
from webriskops.scanner.checks import Finding, run_checks
from webriskops.scanner.crawler import Crawl, Page, normalize
from webriskops.scanner.fetch import Response
from webriskops.scanner.html import parse

SAFE = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
CLEAN = (
    '<!doctype html><html lang="en"><head><title>Clean</title></head><body>'
    '<img src="/logo.png" alt="Logo"><img src="/spacer.gif" alt="">'
    '<script src="/app.js"></script><form action="/search"><input name="q"></form>'
    "</body></html>"
)
FINGERPRINT = re.compile(r"^[A-Za-z0-9._:/+=-]{8,128}$")


def make_page(url: str, body: str = CLEAN, headers: dict | None = None, status: int = 200,
              elapsed: int = 20, referrers: tuple[str, ...] = (), cookies: tuple[str, ...] = (),
              content_type: str = "text/html; charset=utf-8") -> Page:  # fmt: skip
    """A fetched page as the crawler would hand it to the checks."""
    header_list = [
        ("content-type", content_type),
        *(headers if headers is not None else SAFE).items(),
    ]
    header_list += [("set-cookie", cookie) for cookie in cookies]
    response = Response(url, status, header_list, body.encode(), elapsed)
    page = Page(normalize(url), 1, response=response, referrers=list(referrers))
    if response.is_html:
        page.document = parse(body)
    return page


def check(*pages: Page, probes: dict | None = None, **settings) -> list[Finding]:
    """Every finding of a crawl of ``pages`` (the first is the home page)."""
    crawl = Crawl(pages[0].url, "https://shop.example", list(pages), probes or {}, [])
    found = run_checks(crawl, make_settings(**settings))
    return [finding for findings in found.values() for finding in findings]


def only(findings: list[Finding], type_: str) -> Finding:
    matching = [finding for finding in findings if finding.type == type_]
    assert len(matching) == 1, [finding.type for finding in findings]
    return matching[0]


def test_a_clean_https_page_has_no_findings():
    assert check(make_page("https://shop.example/")) == []


@pytest.mark.parametrize(
    ("change", "type_", "severity", "evidence"),
    [
        ({"Strict-Transport-Security": None}, "missing-hsts", "medium", "no Strict-Transport"),
        ({"Strict-Transport-Security": "max-age=600"}, "weak-hsts", "low", "max-age=600"),
        ({"Content-Security-Policy": None}, "missing-csp", "medium", "no Content-Security"),
        ({"Content-Security-Policy": "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"},
         "weak-csp", "low", "'unsafe-inline'"),
        ({"X-Content-Type-Options": None}, "missing-x-content-type-options", "low", "(absent)"),
        ({"Referrer-Policy": "unsafe-url"}, "missing-referrer-policy", "low", "unsafe-url"),
        ({"Content-Security-Policy": "default-src 'self'"}, "missing-frame-protection",
         "medium", "no X-Frame-Options"),
    ],
)  # fmt: skip
def test_missing_or_weak_security_headers(change, type_, severity, evidence):
    headers = {name: value for name, value in {**SAFE, **change}.items() if value is not None}

    finding = only(check(make_page("https://shop.example/", headers=headers)), type_)

    assert finding.severity == severity
    assert evidence in finding.evidence
    assert finding.impact and finding.remediation and finding.steps


def test_frame_protection_by_x_frame_options_and_nonce_scripts_are_fine():
    headers = {**SAFE, "Content-Security-Policy": "script-src 'nonce-abc' 'unsafe-inline'",
               "X-Frame-Options": "SAMEORIGIN"}  # fmt: skip
    assert check(make_page("https://shop.example/", headers=headers)) == []


def test_hsts_is_not_asked_of_plain_http_pages():
    headers = {name: value for name, value in SAFE.items() if name != "Strict-Transport-Security"}
    assert check(make_page("http://shop.example/", headers=headers)) == []


def test_one_site_wide_header_issue_is_one_fingerprint_on_every_page():
    headers = {name: value for name, value in SAFE.items() if name != "Content-Security-Policy"}
    pages = [make_page(f"https://shop.example/{path}", headers=headers) for path in ("", "a", "b")]

    found = [finding for finding in check(*pages) if finding.type == "missing-csp"]

    assert len(found) == 3
    assert len({finding.fingerprint for finding in found}) == 1


def test_cookies_without_secure_httponly_or_samesite():
    cookies = ("sessionid=s3cr3t; Path=/", "theme=dark; Secure; HttpOnly; SameSite=Lax")
    page = make_page("https://shop.example/", cookies=cookies)
    found = check(page)

    assert {(f.type, f.severity) for f in found} == {
        ("cookie-without-secure", "medium"),
        ("cookie-without-httponly", "medium"),
        ("cookie-without-samesite", "low"),
    }
    for finding in found:
        assert (
            finding.evidence == "Set-Cookie: sessionid=[REDACTED:cookie]; Path=/"
        )  # the value stays out
        assert "s3cr3t" not in str(finding.as_issue())


def test_mixed_content_on_https_pages():
    body = CLEAN.replace(
        "</body>",
        '<script src="http://cdn.example/lib.js"></script><img src="http://cdn.example/a.png" '
        'alt="a"><link rel="stylesheet" href="https://cdn.example/ok.css"></body>',
    )
    found = check(make_page("https://shop.example/", body=body))

    assert only(found, "mixed-content-active").severity == "high"
    assert "http://cdn.example/lib.js" in only(found, "mixed-content-active").evidence
    assert only(found, "mixed-content-passive").severity == "low"
    assert (
        check(
            make_page(
                "http://shop.example/", body=body, headers={**SAFE, "X-Frame-Options": "DENY"}
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("url", "form", "type_", "severity"),
    [
        ("https://shop.example/login", '<form action="http://shop.example/session">'
         '<input type="password" name="p"></form>', "form-posts-over-http", "high"),
        ("https://shop.example/news", '<form action="http://shop.example/subscribe">'
         '<input name="email"></form>', "form-posts-over-http", "medium"),
        ("http://shop.example/login", '<form method="post"><input type="password" name="p">'
         "</form>", "password-form-over-http", "high"),
    ],
)  # fmt: skip
def test_forms_that_post_over_http(url, form, type_, severity):
    finding = only(check(make_page(url, body=CLEAN.replace("</body>", form + "</body>"))), type_)
    assert finding.severity == severity
    assert finding.evidence.startswith("<form")


def test_version_disclosure_in_headers_and_generator():
    body = CLEAN.replace("<head>", '<head><meta name="generator" content="WordPress 6.4.2">')
    headers = {**SAFE, "Server": "nginx/1.18.0", "X-Powered-By": "Express"}
    found = check(make_page("https://shop.example/", body=body, headers=headers))

    disclosed = sorted(f.evidence for f in found if f.type == "version-disclosure")
    assert disclosed == [
        '<meta name="generator" content="WordPress 6.4.2">',
        "server: nginx/1.18.0",
    ]
    assert all(f.severity == "low" for f in found)


def test_directory_listing():
    body = "<html><head><title>Index of /backups/</title></head><body><h1>Index of /backups/</h1>"
    finding = only(
        check(make_page("https://shop.example/backups/", body=body)), "directory-listing"
    )
    assert finding.severity == "medium"
    assert "Index of /backups/" in finding.evidence


def probe(body: bytes, status: int = 200, content_type: str = "text/plain") -> Response:
    return Response("https://shop.example/x", status, [("content-type", content_type)], body, 5)


def test_exposed_files_found_by_probes_and_soft_404s_ignored():
    probes = {
        "/.env": probe(b"APP_KEY=base64:abc\nDB_PASSWORD=hunter2-hunter2\n"),
        "/.git/HEAD": probe(b"ref: refs/heads/main\n"),
        "/backup.zip": probe(b"PK\x03\x04rest-of-zip"),
        # A site answering 200 with its home page for everything is not exposing files.
        "/.git/config": probe(b"<!doctype html><html>home</html>", content_type="text/html"),
        "/backup.sql": probe(b"CREATE TABLE users", status=404),
    }
    found = check(make_page("https://shop.example/"), probes=probes)

    assert sorted((f.type, f.severity, f.scope) for f in found) == [
        ("exposed-backup-file", "high", "https://shop.example/backup.zip"),
        ("exposed-env-file", "high", "https://shop.example/.env"),
        ("exposed-git-repository", "high", "https://shop.example/.git/HEAD"),
    ]
    env = only(found, "exposed-env-file")
    assert "APP_KEY=" in env.evidence and "hunter2" not in env.evidence  # redacted


def test_images_without_alt_and_missing_title_or_lang():
    body = '<html><head></head><body><img src="/hero.jpg"><img src="/x.png" alt=""></body></html>'
    found = check(make_page("https://shop.example/", body=body))

    assert sorted((f.type, f.category, f.severity) for f in found) == [
        ("image-missing-alt", "accessibility", "low"),
        ("missing-lang", "accessibility", "low"),
        ("missing-title", "seo", "low"),
    ]
    assert only(found, "image-missing-alt").evidence == '<img src="/hero.jpg">'


def test_slow_pages():
    slow = make_page("https://shop.example/", elapsed=2500)
    assert only(check(slow, slow_page_ms=1000), "slow-page").severity == "low"
    assert only(check(slow, slow_page_ms=500), "slow-page").severity == "medium"
    assert check(slow, slow_page_ms=3000) == []


def test_broken_links_and_server_errors_are_reported_on_the_linking_page():
    home = make_page("https://shop.example/")
    missing = make_page("https://shop.example/old", status=404, referrers=(home.url,))
    failing = make_page("https://shop.example/api", status=502, referrers=(home.url,))
    crawl = Crawl(home.url, "https://shop.example", [home, missing, failing], {}, [])

    found = run_checks(crawl, make_settings())

    assert sorted((f.type, f.severity) for f in found[home.url]) == [
        ("broken-link", "low"),
        ("server-error", "medium"),
    ]
    assert found.get(missing.url, []) == []


def test_secrets_in_page_source_with_redacted_evidence():
    key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    body = CLEAN.replace(
        "</body>",
        f'<script>var stripe = "{key}"; var csrfToken = "a8f5f167f44f4964e6c998dee827110c";'
        "</script></body>",
    )
    finding = only(check(make_page("https://shop.example/", body=body)), "secret-in-page-source")

    assert finding.severity == "high"
    assert "[REDACTED:stripe_secret_key]" in finding.evidence
    assert key not in str(finding.as_issue())


def test_fingerprints_are_stable_and_scoped():
    headers = {name: value for name, value in SAFE.items() if name != "X-Content-Type-Options"}
    first = only(check(make_page("https://shop.example/", headers=headers, elapsed=5)),
                 "missing-x-content-type-options")  # fmt: skip
    again = only(check(make_page("https://shop.example/", headers=headers, elapsed=900)),
                 "missing-x-content-type-options")  # fmt: skip
    other = check(make_page("https://other.example/", headers=headers))

    assert first.fingerprint == again.fingerprint
    assert other[0].fingerprint != first.fingerprint
    assert FINGERPRINT.match(first.fingerprint)
    issue = first.as_issue()
    assert set(issue) >= {"category", "type", "severity", "title", "description", "fingerprint",
                          "confidence", "evidence", "businessImpact", "suggestedRemediation",
                          "reproductionSteps"}  # fmt: skip
