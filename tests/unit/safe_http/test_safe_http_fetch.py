"""SSRF-safe fetching: what still works, and how it fails, against real loopback servers.

DNS is looked up once per hop and the connection goes to the address checked (no rebinding);
bodies stream in chunks within the size limit; slow servers, error statuses, redirect chains
and unreachable servers become typed errors; TLS is verified against the host name while the
connection goes to the checked address. Loopback is allowed for these tests only, through
``allowed_networks``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heavylift.errors import (
    AccessDenied,
    NotFound,
    PermanentError,
    SourceFailed,
    SourceUnavailable,
    TooLarge,
    UrlRefused,
)
from heavylift.media.stream import SourceStream
from heavylift.net.safe_http import open_url, post_json
from tests.unit.http_servers import (
    Server,
    drip,
    elapsed,
    make_certificates,
    payload,
    redirect,
    redirect_chain,
    serving,
    stall,
    status,
)
from tests.unit.safe_http.helpers import FakeDns, local_policy

# DNS rebinding: one lookup per hop, and the connection goes to the address checked.


@pytest.fixture
def second_loopback(server: Server) -> Iterator[Server]:
    """A server on 127.0.0.2 at the same port as ``server``: where a second lookup would go."""
    try:
        other = Server("127.0.0.2", server.port)
    except OSError:
        pytest.skip("cannot bind 127.0.0.2")
    with serving(other) as running:
        yield running


def test_dns_rebinding_connects_to_the_checked_address(
    server: Server, second_loopback: Server, connections: list[tuple[str, int]]
) -> None:
    # Both loopback addresses are allowed: only pinning keeps the fetch on the first.
    server.routes["/data"] = payload(b"first answer")
    second_loopback.routes["/data"] = payload(b"second answer")
    dns = FakeDns({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
    policy = local_policy(server, allowed_networks=("127.0.0.0/24",))
    with open_url(f"http://rebind.example:{server.port}/data", policy, resolver=dns) as reader:
        assert reader.read(100) == b"first answer"
    assert dns.calls == ["rebind.example"]
    assert connections == [("127.0.0.1", server.port)]
    assert not second_loopback.requests
    assert server.requests[0].headers["host"] == f"rebind.example:{server.port}"


def test_dns_rebinding_to_a_private_address_after_the_check(
    server: Server, connections: list[tuple[str, int]]
) -> None:
    server.routes["/data"] = payload(b"ok")
    dns = FakeDns({"rebind.example": [["127.0.0.1"], ["10.0.0.1"]]})
    with open_url(
        f"http://rebind.example:{server.port}/data", local_policy(server), resolver=dns
    ) as reader:
        assert reader.read() == b"ok"
    assert dns.calls == ["rebind.example"]
    assert connections == [("127.0.0.1", server.port)]


def test_each_redirect_hop_is_resolved_and_checked_once(
    server: Server, connections: list[tuple[str, int]]
) -> None:
    # The second hop's name now answers a private address: refused, not connected to.
    server.routes["/first"] = redirect(f"http://rebind.example:{server.port}/second")
    server.routes["/second"] = payload(b"never")
    dns = FakeDns({"rebind.example": [["127.0.0.1"], ["10.0.0.1"]]})
    url = f"http://rebind.example:{server.port}/first"
    with pytest.raises(
        UrlRefused, match="rebind.example resolves to an address that is not public"
    ):
        open_url(url, local_policy(server), resolver=dns)
    assert dns.calls == ["rebind.example", "rebind.example"]
    assert connections == [("127.0.0.1", server.port)]


# Allowed fetches.


def test_streams_a_large_body_in_chunks(server: Server) -> None:
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB
    server.routes["/big"] = payload(data)
    server.routes["/start"] = redirect("/big")
    with open_url(server.url("/start"), local_policy(server)) as reader:
        assert reader.size == len(data)
        assert reader.url == server.url("/big")
        chunks = []
        while chunk := reader.read(64 * 1024):
            assert len(chunk) <= 64 * 1024
            chunks.append(chunk)
    assert len(chunks) >= 48
    assert b"".join(chunks) == data
    assert server.requests[-1].headers["accept-encoding"] == "identity"


def test_reader_feeds_a_source_stream(server: Server) -> None:
    data = b"\xff\xd8\xff" + b"j" * 500_000
    server.routes["/photo.jpg"] = payload(data, chunked=True)
    with open_url(server.url("/photo.jpg"), local_policy(server)) as reader:
        assert reader.size == 0  # chunked: unknown
        stream = SourceStream(reader, max_bytes=10**6)
        assert stream.peek(3) == b"\xff\xd8\xff"
        stream.drain()
    assert stream.bytes_read == len(data)
    assert stream.sha256 == hashlib.sha256(data).hexdigest()


def test_ipv6_addresses_are_connected_to_when_allowed(
    connections: list[tuple[str, int]],
) -> None:
    try:
        v6 = Server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with serving(v6):
        v6.routes["/x"] = payload(b"over ipv6")
        policy = local_policy(v6, allowed_networks=("::1/128",))
        with open_url(v6.url("/x"), policy) as reader:
            assert reader.read() == b"over ipv6"
        dns = FakeDns({"six.example": ["::1"]})
        with open_url(f"http://six.example:{v6.port}/x", policy, resolver=dns) as reader:
            assert reader.read() == b"over ipv6"
    assert [address for address, _ in connections] == ["::1", "::1"]
    assert [r.headers["host"] for r in v6.requests] == [
        f"[::1]:{v6.port}",
        f"six.example:{v6.port}",
    ]


def test_content_length_over_the_limit_fails_before_reading(server: Server) -> None:
    server.routes["/big"] = payload(b"x" * 2000)
    with pytest.raises(TooLarge):
        open_url(server.url("/big"), local_policy(server, max_bytes=1000))


def test_chunked_body_over_the_limit_fails_while_reading(server: Server) -> None:
    server.routes["/big"] = payload(b"x" * 300_000, chunked=True)
    total = 0
    with open_url(server.url("/big"), local_policy(server, max_bytes=200_000)) as reader:
        with pytest.raises(TooLarge):
            while chunk := reader.read(50_000):
                total += len(chunk)
    assert total <= 200_000


def test_body_exactly_at_the_limit_is_fine(server: Server) -> None:
    server.routes["/exact"] = payload(b"y" * 1000, chunked=True)
    with open_url(server.url("/exact"), local_policy(server, max_bytes=1000)) as reader:
        assert len(b"".join(iter(lambda: reader.read(300), b""))) == 1000


@pytest.mark.parametrize(
    ("route", "timeout_s", "total_s"),
    [
        pytest.param(stall(before_headers=True), 0.5, 30.0, id="no-headers"),
        pytest.param(stall(before_headers=False, first_bytes=b"abc"), 0.5, 30.0, id="mid-body"),
        pytest.param(drip(0.05), 5.0, 1.0, id="drip-past-the-total"),
    ],
)
def test_slow_servers_are_given_up_on(
    server: Server, route: Callable[..., None], timeout_s: float, total_s: float
) -> None:
    server.routes["/slow"] = route
    policy = local_policy(server, timeout_s=timeout_s, total_timeout_s=total_s)
    start = time.monotonic()
    with pytest.raises(SourceUnavailable) as failure:
        with open_url(server.url("/slow"), policy) as reader:
            while reader.read(1024):
                pass
    assert elapsed(start) < min(timeout_s, total_s) + 1.5
    assert failure.value.transient and failure.value.code == "source_unavailable"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (404, NotFound),
        (410, NotFound),
        (401, AccessDenied),
        (403, AccessDenied),
        (400, SourceFailed),
        (304, SourceFailed),
        (429, SourceUnavailable),
        (500, SourceUnavailable),
        (503, SourceUnavailable),
    ],
)
def test_status_codes_become_typed_errors(
    server: Server, code: int, error: type[Exception]
) -> None:
    server.routes["/x"] = status(code)
    with pytest.raises(error):
        open_url(server.url("/x"), local_policy(server))


def test_redirect_without_location_is_a_permanent_failure(server: Server) -> None:
    server.routes["/x"] = status(302)
    with pytest.raises(SourceFailed):
        open_url(server.url("/x"), local_policy(server))


def test_redirect_chains_are_capped(server: Server) -> None:
    server.routes |= redirect_chain("/chain")
    with open_url(server.url("/chain/16"), local_policy(server, max_redirects=3)) as reader:
        assert reader.read() == b"end of the chain"
    server.requests.clear()
    with pytest.raises(UrlRefused, match="redirects"):
        open_url(server.url("/chain/15"), local_policy(server, max_redirects=3))
    assert len(server.requests) == 4  # the first request and three redirects followed


def test_unreachable_server_is_transient(server: Server) -> None:
    policy = local_policy(server)
    port = server.port
    server.shutdown()
    server.server_close()
    with pytest.raises(SourceUnavailable):
        open_url(f"http://127.0.0.1:{port}/", policy)
    with pytest.raises(SourceUnavailable):
        post_json(f"http://127.0.0.1:{port}/", b"{}", {}, policy)
    with pytest.raises(SourceUnavailable):  # a name that does not resolve
        open_url(f"http://nowhere.example:{port}/", policy, resolver=FakeDns({}))


# TLS: the connection goes to an address, the certificate is checked against the name.


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    ca, cert, key = make_certificates(tmp_path, "media.example")
    running = Server()
    running.use_tls(cert, key)
    running.routes["/file"] = payload(b"over tls")
    with serving(running):
        yield running, str(ca)


def test_tls_is_verified_against_the_host_name(
    tls_server: tuple[Server, str], connections: list[tuple[str, int]]
) -> None:
    server, ca = tls_server
    dns = FakeDns({"media.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    policy = local_policy(server, ca_certs=ca)
    with open_url(f"https://media.example:{server.port}/file", policy, resolver=dns) as reader:
        assert reader.read() == b"over tls"
    assert connections == [("127.0.0.1", server.port)]
    # Same address, but the certificate is not for this name: permanent, not retried.
    with pytest.raises(SourceFailed, match="certificate") as failure:
        open_url(f"https://other.example:{server.port}/file", policy, resolver=dns)
    assert isinstance(failure.value, PermanentError)
    # A CA the policy does not trust (the OS store by default).
    with pytest.raises(SourceFailed, match="certificate"):
        open_url(f"https://media.example:{server.port}/file", local_policy(server), resolver=dns)
    # And by address, the certificate (for a name) does not match either.
    with pytest.raises(SourceFailed, match="certificate"):
        open_url(server.url("/file"), policy)
