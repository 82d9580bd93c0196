"""Breadth-first crawl of one site: same origin, robots.txt, page and depth limits, probes.

The crawl starts at the project's ``baseUrl``; a redirect of that first request to the
HTTPS or ``www.`` twin of its origin is followed, and that origin becomes the site's.
Every other request stays on the origin. robots.txt is read first (RFC 9309: a missing
file allows everything, a server error disallows everything) and honoured for every
URL but the base URL the customer asked to scan; a ``Crawl-delay`` slows the crawl
down further. Links are followed in the order found, level by level, up to
``max_depth`` links away from the base URL and ``max_pages`` pages.
"""

from __future__ import annotations

import threading
import urllib.robotparser
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from webriskops.scanner.fetch import Fetcher, FetchError, Response, origin_of
from webriskops.scanner.html import Document, parse
from webriskops.scanner.settings import ROBOTS_AGENT, ScannerSettings

MAX_CRAWL_DELAY = 10.0


class Cancelled(Exception):
    """The run was taken away (lease lost) or the scanner is stopping."""


@dataclass
class Page:
    """One URL the crawl requested: its answer, or why there was none."""

    url: str  # normalized, as linked
    depth: int
    response: Response | None = None
    error: FetchError | None = None
    document: Document | None = None
    referrers: list[str] = field(default_factory=list)

    @property
    def final_url(self) -> str:
        """The URL that answered, after redirects."""
        return normalize(self.response.url) if self.response else self.url

    @property
    def is_html(self) -> bool:
        """True when the answer is an HTML page."""
        return self.response is not None and self.response.is_html


@dataclass
class Crawl:
    """What one scan saw of a site."""

    base_url: str
    origin: str
    pages: list[Page]
    probes: dict[str, Response]  # path -> answer
    robots_disallowed: list[str]
    requests: int = 0


def normalize(url: str) -> str:
    """An absolute URL without fragment, with lower-case origin and a path of at least ``/``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return origin_of(url) + path + query


def _equivalent(origin: str, other: str) -> bool:
    """The HTTPS or www. twin of an origin (where sites commonly redirect their base URL)."""
    a, b = urlsplit(origin), urlsplit(other)
    if (a.port or 0) != (b.port or 0) and not (a.port is None or b.port is None):
        return False
    hosts = {(a.hostname or "").removeprefix("www."), (b.hostname or "").removeprefix("www.")}
    schemes_ok = a.scheme == b.scheme or (a.scheme, b.scheme) == ("http", "https")
    return len(hosts) == 1 and schemes_ok


class Robots:
    """robots.txt rules for the scanner's user agent."""

    def __init__(self, parser: urllib.robotparser.RobotFileParser | None, disallow_all: bool):
        self.parser = parser
        self.disallow_all = disallow_all

    def allows(self, url: str) -> bool:
        """True when the scanner may fetch ``url``."""
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(ROBOTS_AGENT, url)

    def crawl_delay(self) -> float | None:
        """The site's ``Crawl-delay`` for the scanner, if any."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay is not None else None


def read_robots(fetcher: Fetcher, origin: str) -> Robots:
    """Fetch and parse ``/robots.txt`` (RFC 9309's rules for missing and failing files)."""
    try:
        response = fetcher.get(origin + "/robots.txt")
    except FetchError as error:
        if error.code == "SCAN_BUDGET_EXCEEDED":
            raise
        return Robots(None, disallow_all=True)  # unreachable: assume complete disallow
    if response.status >= 500:
        return Robots(None, disallow_all=True)
    if not 200 <= response.status < 300:  # missing (4xx) or not followable: no rules
        return Robots(None, disallow_all=False)
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(response.text().splitlines())
    return Robots(parser, disallow_all=False)


def _first_page(fetcher: Fetcher, base_url: str) -> Response:
    """GET the base URL, following redirects to the HTTPS or www. twin of its origin."""
    current, hops = base_url, []
    for _ in range(6):
        response = fetcher.get(current, follow_redirects=False)
        location = response.header("location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            response.redirects = hops
            return response
        target = urljoin(current, location.strip())
        if not (fetcher.same_origin(target) or _equivalent(fetcher.origin, origin_of(target))):
            raise FetchError("REDIRECT_OFF_ORIGIN", f"{current} redirects to another site", target)
        fetcher.origin = origin_of(target)
        hops.append(current)
        current = target
    raise FetchError("TOO_MANY_REDIRECTS", "the base URL redirects more than 5 times", base_url)


def crawl(
    base_url: str,
    fetcher: Fetcher,
    settings: ScannerSettings,
    *,
    probe_paths: tuple[str, ...] = (),
    cancel: threading.Event | None = None,
) -> Crawl:
    """Crawl the site breadth-first; raises ``FetchError`` when the base URL has no answer."""
    cancel = cancel or threading.Event()
    start = normalize(base_url)
    first = _first_page(fetcher, start)
    origin = fetcher.origin
    robots = read_robots(fetcher, origin)
    delay = robots.crawl_delay()
    if delay:
        fetcher.slow_down(min(delay, MAX_CRAWL_DELAY))

    home = Page(start, 0, response=first)
    pages: list[Page] = []
    by_url: dict[str, Page] = {}
    referrers: dict[str, list[str]] = {}
    seen_final: set[str] = set()
    queue: deque[tuple[str, int]] = deque()
    enqueued = {start, home.final_url}
    disallowed: list[str] = []

    def record(page: Page) -> None:
        if page.response is not None:
            final = page.final_url
            if final in seen_final:  # two links that redirect to one page: keep the first
                return
            seen_final.add(final)
        if page.response is not None and page.is_html:
            page.document = parse(page.response.text())
        pages.append(page)
        by_url[page.url] = page
        if page.document is None or page.depth >= settings.max_depth:
            return
        if not 200 <= page.response.status < 300:
            return
        base = urljoin(page.response.url, page.document.base_href or "")
        for href in page.document.links:
            target = _link_target(base, href)
            if target is None or origin_of(target) != origin:
                continue
            referrers.setdefault(target, [])
            if page.final_url not in referrers[target]:
                referrers[target].append(page.final_url)
            if target not in enqueued:
                enqueued.add(target)
                queue.append((target, page.depth + 1))

    def visit(item: tuple[str, int]) -> Page:
        url, depth = item
        try:
            return Page(url, depth, response=fetcher.get(url))
        except FetchError as error:
            if error.code == "SCAN_BUDGET_EXCEEDED":
                raise
            return Page(url, depth, error=error)

    record(home)
    with ThreadPoolExecutor(settings.site_concurrency, thread_name_prefix="crawl") as pool:
        while queue and len(pages) < settings.max_pages:
            if cancel.is_set():
                raise Cancelled()
            batch: list[tuple[str, int]] = []
            while queue and len(batch) < settings.site_concurrency:
                if len(pages) + len(batch) >= settings.max_pages:
                    break
                url, depth = queue.popleft()
                if robots.allows(url):
                    batch.append((url, depth))
                else:
                    disallowed.append(url)
            for page in pool.map(visit, batch):
                record(page)

        probes: dict[str, Response] = {}
        for path in probe_paths:
            if cancel.is_set():
                raise Cancelled()
            url = origin + path
            if not robots.allows(url):
                disallowed.append(url)
                continue
            try:
                probes[path] = fetcher.get(url, follow_redirects=False)
            except FetchError as error:
                if error.code == "SCAN_BUDGET_EXCEEDED":
                    raise

    for page in pages:
        page.referrers = referrers.get(page.url, [])
    return Crawl(start, origin, pages, probes, disallowed, fetcher.requests)


def _link_target(base: str, href: str) -> str | None:
    """The normalized absolute http(s) URL a link points at, or None."""
    try:
        absolute = urljoin(base, href)
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(absolute) > 2048:
        return None  # not a web page, or longer than the API stores
    if parts.username is not None or parts.password is not None:
        return None  # never send credentials found in a link
    return normalize(absolute)
