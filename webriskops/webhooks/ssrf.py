"""Where a webhook may connect: public addresses only, checked when it is sent.

A URL's host is resolved once per attempt, every address it resolves to is checked, and
the connection goes to a checked address (the Host header and TLS name stay the URL's
host). A DNS answer that changes between the check and the connection (rebinding) cannot
redirect the request, because there is no second lookup. ``WRO_WEBHOOKS_ALLOW_PRIVATE=1``
lifts the check for loopback and private networks (local development, tests).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedDestination(ValueError):
    """The URL may not be called: bad form, or an address that is not public."""


def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses (IPv4 inside IPv6 is checked too)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not address.is_multicast


def check_url(url: str, *, allow_private: bool) -> None:
    """Check a URL's form (http/https, a host, no credentials) and any literal IP host.

    Host names are checked again, on their resolved addresses, at every send.
    """
    if len(url) > MAX_URL_LENGTH:
        raise BlockedDestination(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BlockedDestination("the URL is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedDestination("the URL must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise BlockedDestination("the URL must not contain credentials")
    if allow_private:
        return
    if parts.hostname.rstrip(".").lower() == "localhost" or parts.hostname.endswith(".localhost"):
        raise BlockedDestination("the URL points at a loopback address")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    if not is_public_address(literal):
        raise BlockedDestination("the URL points at a loopback or private address")


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``addresses``) and what to ask for."""

    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        """An HTTP(S) connection to the first reachable checked address."""
        error: OSError | None = None
        for address in self.addresses:
            if self.scheme == "https":
                connection = _PinnedHTTPSConnection(self.host, self.port, address, timeout)
            else:
                connection = _PinnedHTTPConnection(self.host, self.port, address, timeout)
            try:
                connection.connect()
            except OSError as failure:
                connection.close()
                error = failure
                continue
            return connection
        raise error or OSError("no address to connect to")


def resolve(url: str, *, allow_private: bool) -> Destination:
    """Resolve a URL's host once and check every address; raises ``BlockedDestination``.

    A host that does not resolve raises ``OSError`` (worth retrying later).
    """
    check_url(url, allow_private=allow_private)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not allow_private and not is_public_address(address):
            raise BlockedDestination("the URL resolves to a loopback or private address")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise OSError(f"{parts.hostname} did not resolve")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(parts.scheme, parts.hostname, port, target, tuple(addresses))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a fixed address; the Host header is still the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address; SNI and certificate checks use the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
