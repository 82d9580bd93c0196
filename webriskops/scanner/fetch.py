"""The scanner's HTTP client: httpx, pinned to checked addresses, polite and bounded.

Every request, and every redirect hop, goes through the webhooks' SSRF guard: the host
is resolved once, every address must be public (unless ``WRO_SCANNER_ALLOW_PRIVATE=1``)
and the connection goes to the checked address, with the Host header and the TLS name
still the URL's host, so a DNS answer that changes in between cannot redirect it.
Redirects are followed by hand, only within the site's origin. No credentials leave
the scanner: no cookie jar, no ``.netrc``, no proxy settings from the environment.
Requests to one site are spaced by its rate limit and capped in number in flight.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import httpx

from webriskops.scanner.settings import USER_AGENT, ScannerSettings
from webriskops.webhooks.ssrf import BlockedDestination, resolve

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """A request that got no HTTP answer; ``code`` is the failed postback's ``error.code``."""

    def __init__(self, code: str, message: str, url: str, timeout_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.timeout_ms = timeout_ms


class BudgetExceeded(FetchError):
    """The run's time budget is spent."""


@dataclass
class Response:
    """One answer, after same-origin redirects."""

    url: str  # the URL that answered (after redirects)
    status: int
    headers: list[tuple[str, str]]  # as sent, repeated names kept (Set-Cookie)
    body: bytes
    elapsed_ms: int
    redirects: list[str] = field(default_factory=list)
    truncated: bool = False

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of a header (``Set-Cookie`` comes once per cookie)."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def is_html(self) -> bool:
        """True for an HTML document."""
        return self.content_type in ("text/html", "application/xhtml+xml")

    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 when absent or unknown)."""
        charset = "utf-8"
        for part in (self.header("content-type") or "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"' ")
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in lower case, without a default port."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == {"http": 80, "https": 443}.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify(error: BaseException, url: str, timeout: float) -> FetchError:
    """The contract's failure code for a request that got no answer."""
    timeout_ms = int(timeout * 1000)
    text = str(error)
    if isinstance(error, httpx.TimeoutException):
        return FetchError("TIMEOUT", f"no answer within {timeout_ms} ms", url, timeout_ms)
    if _cause(error, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return FetchError("TLS_ERROR", f"TLS handshake failed: {text[:300]}", url, timeout_ms)
    if _cause(error, ConnectionRefusedError) or "Connection refused" in text:
        return FetchError("CONNECTION_REFUSED", "the server refused the connection", url)
    if _cause(error, ConnectionResetError):
        return FetchError("CONNECTION_RESET", "the server reset the connection", url)
    return FetchError("NETWORK_ERROR", f"{type(error).__name__}: {text[:300]}", url)


class Fetcher:
    """GET requests to one site within a deadline; thread-safe."""

    def __init__(
        self,
        origin: str,
        settings: ScannerSettings,
        deadline: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.origin = origin
        self.settings = settings
        self.deadline = deadline
        self.clock = clock
        self.requests = 0
        self._slots = threading.BoundedSemaphore(settings.site_concurrency)
        self._interval = 1.0 / settings.requests_per_second
        self._next_start = 0.0
        self._pace = threading.Lock()
        self._client = httpx.Client(
            # No cookies are kept or sent back, nothing from the environment (proxies,
            # .netrc credentials): the scanner visits as an anonymous first-time visitor.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.8"},
            transport=transport,
            # A private CA (an intranet site, the tests' own) replaces the default ones.
            verify=ssl.create_default_context(cafile=settings.ca_bundle)
            if settings.ca_bundle
            else True,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def slow_down(self, interval: float) -> None:
        """Space requests at least ``interval`` seconds apart (robots.txt ``Crawl-delay``)."""
        self._interval = max(self._interval, interval)

    def remaining(self) -> float:
        """Seconds left in the run's budget."""
        return self.deadline - self.clock()

    def same_origin(self, url: str) -> bool:
        """True when ``url`` is on the site's origin."""
        return origin_of(url) == self.origin

    def get(self, url: str, *, follow_redirects: bool = True) -> Response:
        """GET ``url`` (same origin only), following redirects that stay on the origin."""
        redirects: list[str] = []
        elapsed = 0.0  # time on the wire, not time waiting for our own rate limit
        current = url
        while True:
            if not self.same_origin(current):
                raise FetchError(
                    "REDIRECT_OFF_ORIGIN",
                    f"{redirects[-1] if redirects else url} leaves the site's origin",
                    current,
                )
            status, headers, body, truncated, took = self._get_once(current)
            elapsed += took
            location = next((v for k, v in headers if k.lower() == "location"), None)
            if not (follow_redirects and status in REDIRECTS and location):
                ms = int(elapsed * 1000)
                return Response(current, status, headers, body, ms, redirects, truncated)
            if len(redirects) >= MAX_REDIRECTS:
                raise FetchError("TOO_MANY_REDIRECTS", f"more than {MAX_REDIRECTS} redirects", url)
            redirects.append(current)
            current = urljoin(current, location.strip())

    def _get_once(self, url: str) -> tuple[int, list[tuple[str, str]], bytes, bool, float]:
        timeout = min(self.settings.request_timeout, self.remaining())
        if timeout <= 0:
            raise self._over_budget(url)
        try:
            destination = resolve(url, allow_private=self.settings.allow_private)
        except BlockedDestination as error:
            raise FetchError("BLOCKED_DESTINATION", str(error), url) from None
        except OSError as error:  # socket.gaierror and friends: the name did not resolve
            raise FetchError("DNS_FAILURE", f"cannot resolve the host: {error}", url) from None
        with self._slots:
            self._wait_for_turn()
            timeout = min(timeout, self.remaining())
            if timeout <= 0:
                raise self._over_budget(url)
            try:
                return self._send(url, destination.host, destination.addresses, timeout)
            except FetchError as error:
                # A request cut short by the budget, not by the site's slowness.
                if error.code == "TIMEOUT" and timeout < self.settings.request_timeout:
                    raise self._over_budget(url) from None
                raise

    def _over_budget(self, url: str) -> BudgetExceeded:
        return BudgetExceeded(
            "SCAN_BUDGET_EXCEEDED",
            "the scan's time budget ran out",
            url,
            int(self.settings.time_budget_seconds * 1000),
        )

    def _wait_for_turn(self) -> None:
        # Requests start at most ``requests_per_second`` apart, whatever the concurrency.
        with self._pace:
            now = self.clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)

    def _send(
        self, url: str, host: str, addresses: tuple[str, ...], timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes, bool, float]:
        parsed = httpx.URL(url)
        host_header = origin_of(url).split("://", 1)[1]
        error: BaseException | None = None
        for address in addresses:
            pinned = parsed.copy_with(host=str(ipaddress.ip_address(address)))
            request = self._client.build_request(
                "GET",
                pinned,
                headers={"Host": host_header},
                # The certificate is checked against the URL's host, not the address.
                extensions={"sni_hostname": host},
                timeout=timeout,
            )
            self.requests += 1
            sent = self.clock()
            try:
                response = self._client.send(request, stream=True)
            except httpx.ConnectError as failure:
                error = failure
                if _cause(failure, ssl.SSLError) or "SSL" in str(failure):
                    break  # another address of the host would present the same certificate
                continue
            except httpx.HTTPError as failure:
                raise classify(failure, url, timeout) from None
            try:
                body, truncated = self._read(response)
            except httpx.HTTPError as failure:
                raise classify(failure, url, timeout) from None
            finally:
                response.close()
            headers = list(response.headers.multi_items())
            return response.status_code, headers, body, truncated, self.clock() - sent
        raise classify(error or OSError("no address"), url, timeout)

    def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        limit = self.settings.max_page_bytes
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], True
        return b"".join(chunks), False
