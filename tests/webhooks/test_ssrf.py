"""Webhook destinations: public addresses only, checked on the resolved address, pinned."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from webriskops.webhooks import service, ssrf


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "ff02::1",
    ],
)
def test_non_public_addresses(address: str):
    assert not ssrf.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str):
    assert ssrf.is_public_address(ipaddress.ip_address(address))


def fake_dns(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Make each lookup of ``*.customer.test`` return the next list of addresses; records them."""
    lookups: list[str] = []
    queue = list(answers)
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args, **kwargs):
        if not host.endswith(".customer.test"):
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize(
    "answer", [["10.0.0.7"], ["169.254.169.254"], ["93.184.216.34", "127.0.0.1"], ["::1"]]
)
def test_a_host_resolving_to_a_private_address_is_blocked(monkeypatch, answer):
    fake_dns(monkeypatch, answer)
    with pytest.raises(ssrf.BlockedDestination):
        ssrf.resolve("https://hooks.customer.test/x", allow_private=False)


def test_the_resolved_address_is_the_one_connected_to(monkeypatch, receiver):
    """DNS rebinding: a second lookup would answer elsewhere, but there is no second lookup."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    lookups = fake_dns(monkeypatch, ["127.0.0.1"], ["127.0.0.2"])
    destination = ssrf.resolve(f"http://hooks.customer.test:{port}/hooks?a=1", allow_private=True)
    assert destination.addresses == ("127.0.0.1",)
    assert destination.target == "/hooks?a=1"
    connection = destination.connect(timeout=5)
    try:
        assert connection.sock.getpeername()[0] == "127.0.0.1"
        connection.request("POST", destination.target, body=b"{}")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    assert lookups == ["hooks.customer.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.customer.test:{port}"


def test_post_reports_a_blocked_destination_without_connecting(app, monkeypatch):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    fake_dns(monkeypatch, ["192.168.0.10"])
    response = service.post("https://hooks.customer.test/x", "whsec_" + "A" * 44, "msg_1", b"{}")
    assert response.blocked and response.status_code is None


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 4.0, 6.0), (2, 16.0, 24.0), (3, 64.0, 96.0), (8, 0.8 * 6 * 3600, 1.2 * 6 * 3600)],
)
def test_backoff_is_exponential_with_jitter(attempt: int, low: float, high: float):
    delays = [service.retry_delay(attempt) for _ in range(50)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1


def test_retry_after_is_honoured():
    assert service.retry_delay(1, retry_after=300) == 300
    assert service.retry_delay(1, retry_after=10**9) == service.RETRY_AFTER_MAX_SECONDS
    assert service.parse_retry_after("120") == 120
    assert service.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412400) == 80
    assert service.parse_retry_after("soon") is None
