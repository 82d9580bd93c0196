"""The crawler's manners: robots.txt, one origin, breadth first within limits, redirects
checked hop by hop, the SSRF guard, rate and concurrency limits, no credentials, and the
contract's failure codes when the site cannot be reached.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.scanner.conftest import make_settings
from webriskops.scanner.crawler import crawl
from webriskops.scanner.fetch import Fetcher, FetchError, origin_of
from webriskops.scanner.runtime import scan
from webriskops.storage import LocalStorage


def run_crawl(base_url: str, **overrides):
    settings = make_settings(**overrides)
    fetcher = Fetcher(origin_of(base_url), settings, time.monotonic() + 30)
    try:
        return crawl(base_url, fetcher, settings)
    finally:
        fetcher.close()


def links(*paths: str) -> str:
    return "".join(f'<a href="{path}">{path}</a>' for path in paths)


def test_robots_txt_is_honoured(scripted_site):
    site = scripted_site()
    site.routes["/robots.txt"] = (200, {"Content-Type": "text/plain"},
                                  b"User-agent: *\nDisallow: /private/\n")  # fmt: skip
    site.page("/", links("/private/admin", "/open"))
    site.page("/open")
    site.page("/private/admin")

    result = run_crawl(site.base_url)

    assert "/private/admin" not in site.paths
    assert "/open" in site.paths
    assert result.robots_disallowed == [site.base_url + "private/admin"]


def test_robots_txt_for_our_agent_and_crawl_delay(scripted_site):
    site = scripted_site()
    site.routes["/robots.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        b"User-agent: WebRiskOpsScanner\nDisallow: /no-scanners\nCrawl-delay: 1\n",
    )
    site.page("/", links("/no-scanners", "/a", "/b"))
    site.page("/a")
    site.page("/b")

    started = time.monotonic()
    run_crawl(site.base_url)

    assert "/no-scanners" not in site.paths
    assert time.monotonic() - started >= 1.0  # /a and /b one second apart


def test_a_failing_robots_txt_disallows_all_but_the_base_url(scripted_site):
    site = scripted_site()
    site.routes["/robots.txt"] = (503, {"Content-Type": "text/plain"}, b"down")
    site.page("/", links("/a"))
    site.page("/a")

    result = run_crawl(site.base_url)

    assert site.paths == ["/", "/robots.txt"]
    assert [page.url for page in result.pages] == [site.base_url]


def test_only_the_sites_origin_is_visited(scripted_site):
    site, other = scripted_site(), scripted_site()
    port = site.base_url.rsplit(":", 1)[1].strip("/")
    site.page("/", links(other.base_url + "x", f"http://localhost:{port}/y", "/z",
                         "mailto:a@example.com", "javascript:alert(1)"))  # fmt: skip
    site.page("/z")

    result = run_crawl(site.base_url)

    assert other.requests == []
    assert "/y" not in site.paths  # localhost is another origin than 127.0.0.1
    assert [page.url for page in result.pages] == [site.base_url, site.base_url + "z"]


def test_breadth_first_within_depth_and_page_limits(scripted_site):
    site = scripted_site()
    site.page("/", links("/a1", "/a2"))
    site.page("/a1", links("/b1"))
    site.page("/a2", links("/b2"))
    site.page("/b1", links("/c1"))
    site.page("/b2")
    site.page("/c1")

    deep = run_crawl(site.base_url, max_depth=2, site_concurrency=1)
    assert [p.url.removeprefix(site.base_url) for p in deep.pages] == ["", "a1", "a2", "b1", "b2"]
    assert "/c1" not in site.paths

    few = run_crawl(site.base_url, max_pages=3, site_concurrency=1)
    assert [p.url.removeprefix(site.base_url) for p in few.pages] == ["", "a1", "a2"]


def test_redirects_stay_on_the_origin(scripted_site):
    site, other = scripted_site(), scripted_site()
    site.page("/", links("/moved", "/away"))
    site.routes["/moved"] = (301, {"Location": "/new"}, b"")
    site.page("/new")
    site.routes["/away"] = (302, {"Location": other.base_url}, b"")

    result = run_crawl(site.base_url)

    by_url = {page.url.removeprefix(site.base_url): page for page in result.pages}
    assert by_url["moved"].final_url == site.base_url + "new"
    assert by_url["away"].error.code == "REDIRECT_OFF_ORIGIN"
    assert other.requests == []


def test_a_base_url_redirecting_to_another_site_fails_the_run(scripted_site, storage_dir):
    site, other = scripted_site(), scripted_site()
    site.routes["/"] = (302, {"Location": other.base_url}, b"")

    result = scan(
        {"scanRunId": 5, "baseUrl": site.base_url}, make_settings(), LocalStorage(storage_dir)
    )

    assert result.payload["status"] == "failed"
    assert result.payload["error"]["code"] == "REDIRECT_OFF_ORIGIN"
    assert other.requests == []


def test_private_addresses_are_refused_without_the_flag(scripted_site, storage_dir, monkeypatch):
    site = scripted_site()
    site.page("/")
    storage = LocalStorage(storage_dir)

    literal = scan({"scanRunId": 1, "baseUrl": site.base_url}, make_settings(allow_private=False),
                   storage)  # fmt: skip
    assert literal.payload["error"]["code"] == "BLOCKED_DESTINATION"

    # A public-looking name that resolves to a private address is refused after DNS.
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real("10.1.2.3", *a, **k) if host == "intranet.example" else
        real(host, *a, **k),
    )  # fmt: skip
    named = scan({"scanRunId": 2, "baseUrl": "http://intranet.example/"},
                 make_settings(allow_private=False), storage)  # fmt: skip
    assert named.payload["error"]["code"] == "BLOCKED_DESTINATION"
    assert named.payload["error"]["url"] == "http://intranet.example/"
    assert site.requests == []


def test_every_redirect_hop_is_checked_against_the_guard(monkeypatch):
    """shop.example is public; its www twin resolves to a private address: refused."""
    addresses = {"shop.example": "93.184.215.14", "www.shop.example": "10.0.0.5"}
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: real(addresses.get(host, host), *a, **k))  # fmt: skip
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.url.host} {request.headers['host']}")
        return httpx.Response(301, headers={"Location": "http://www.shop.example/"})

    settings = make_settings(allow_private=False)
    fetcher = Fetcher("http://shop.example", settings, time.monotonic() + 10,
                      transport=httpx.MockTransport(answer))  # fmt: skip
    with pytest.raises(FetchError) as failure:
        crawl("http://shop.example/", fetcher, settings)

    assert failure.value.code == "BLOCKED_DESTINATION"
    # The first hop went to the checked address with the site's Host header; no second.
    assert sent == ["93.184.215.14 shop.example"]


def test_requests_are_paced_and_capped_per_site(scripted_site):
    site = scripted_site()
    site.delay = 0.15
    site.page("/", links(*[f"/p{i}" for i in range(6)]))
    for i in range(6):
        site.page(f"/p{i}")

    started = time.monotonic()
    run_crawl(site.base_url, requests_per_second=20, site_concurrency=2)
    took = time.monotonic() - started

    assert len(site.requests) == 8  # /, robots.txt, six pages
    assert took >= 7 / 20  # eight request starts at least 50 ms apart
    assert site.max_in_flight == 2


def test_no_cookies_or_credentials_are_sent(scripted_site):
    site = scripted_site()
    port = site.base_url.rsplit(":", 1)[1].strip("/")
    site.routes["/"] = (
        200,
        {"Content-Type": "text/html", "Set-Cookie": "sid=abc; Path=/"},
        f'<a href="/next">n</a><a href="http://user:pw@127.0.0.1:{port}/creds">c</a>'.encode(),
    )
    site.page("/next")

    run_crawl(site.base_url)

    assert "/creds" not in site.paths
    for _path, headers in site.requests:
        assert "cookie" not in headers
        assert "authorization" not in headers
        assert headers["user-agent"].startswith("WebRiskOpsScanner/")


@pytest.mark.parametrize("case", ["dns", "refused", "tls", "timeout", "budget"])
def test_unreachable_sites_fail_with_the_contracts_codes(
    case, scripted_site, self_signed, storage_dir, monkeypatch
):
    settings = make_settings()
    if case == "dns":

        def no_such_host(host, *args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
        base, code = "http://no-such-host.example/", "DNS_FAILURE"
    elif case == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        base, code = f"http://127.0.0.1:{port}/", "CONNECTION_REFUSED"
    elif case == "tls":
        site = scripted_site(tls=self_signed)
        site.page("/")
        base, code = site.base_url, "TLS_ERROR"
    elif case == "timeout":
        site = scripted_site()
        site.delay = 1.0
        site.page("/")
        base, code, settings = site.base_url, "TIMEOUT", make_settings(request_timeout=0.3)
    else:
        site = scripted_site()
        site.delay = 0.4
        site.page("/", links("/a", "/b", "/c"))
        for path in ("/a", "/b", "/c"):
            site.page(path)
        base, code = site.base_url, "SCAN_BUDGET_EXCEEDED"
        settings = make_settings(time_budget_seconds=1.0, site_concurrency=1)

    payload = scan({"scanRunId": 9, "baseUrl": base}, settings, LocalStorage(storage_dir)).payload

    assert payload["status"] == "failed"
    error = payload["error"]
    assert error["code"] == code, error
    assert error["url"].startswith(base.rstrip("/"))
    assert error["message"]
    if case == "timeout":
        assert error["timeoutMs"] == 300
    if case == "budget":
        assert error["timeoutMs"] == 1000


def test_https_sites_are_verified_by_name_while_connecting_to_the_checked_address(
    scripted_site, trusted_tls, storage_dir, loopback_only
):
    """The certificate names ``localhost``; the connection goes to the resolved 127.0.0.1."""
    context, ca_bundle = trusted_tls
    site = scripted_site(tls=context)
    port = site.base_url.rsplit(":", 1)[1].strip("/")
    site.routes["/"] = (
        200,
        {"Content-Type": "text/html", "Set-Cookie": "sessionid=x; HttpOnly; SameSite=Lax"},
        b'<html lang="en"><title>Shop</title><script src="http://cdn.example/a.js"></script>',
    )
    base = f"https://localhost:{port}/"

    payload = scan(
        {"scanRunId": 3, "baseUrl": base},
        make_settings(ca_bundle=ca_bundle),
        LocalStorage(storage_dir),
    ).payload

    assert payload["status"] == "completed", payload.get("error")
    types = {issue["type"]: issue["severity"] for issue in payload["pages"][0]["issues"]}
    assert types["missing-hsts"] == "medium"
    assert types["mixed-content-active"] == "high"
    assert types["cookie-without-secure"] == "medium"
    assert "cdn.example" not in loopback_only  # reported, never fetched
