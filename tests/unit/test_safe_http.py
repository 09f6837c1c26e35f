"""SSRF-safe fetching: what is refused (without ever connecting), and what still works.

Every connection urllib3 opens is recorded (``connections``), so "refused" is checked to
mean "nothing was connected to", and redirects to forbidden targets are checked to stop at
the local server that sent them. Real servers run on loopback, allowed for those tests only
through ``allowed_networks`` (the default policy refuses loopback like any private address).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3.util.connection

from heavylift.config import Settings
from heavylift.errors import AccessDenied, NotFound, PermanentError, TooLarge
from heavylift.media.stream import SourceStream
from heavylift.safe_http import (
    SourceFailed,
    SourceUnavailable,
    UrlPolicy,
    UrlRefused,
    check_url,
    is_public,
    open_url,
    post_json,
)
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

PUBLIC_IP = "93.184.216.34"  # never reached: no test may connect to it


class FakeDns:
    """A resolver from a table; a list of answers per name is served one call at a time."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if answers is None:
            raise OSError(f"fake DNS: no such name {host}")
        if answers and isinstance(answers[0], list):
            index = min(self.calls.count(host), len(answers)) - 1
            return list(answers[index])
        return [str(a) for a in answers]


DNS = {
    "private.example": ["10.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": [PUBLIC_IP, "10.0.0.1"],
    "loopback6.example": ["::1"],
    "mapped.example": ["::ffff:192.168.0.1"],
    "ula.example": ["fd00::1"],
    "cgnat.example": ["100.64.1.1"],
    "public.example": [PUBLIC_IP],
}


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) urllib3 connects to during the test."""
    seen: list[tuple[str, int]] = []
    original = urllib3.util.connection.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> object:
        seen.append(address)
        return original(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return seen


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Server()) as running:
        yield running


def local_policy(server: Server, **overrides: object) -> UrlPolicy:
    """Loopback allowed (the server's address only), plain http, the server's port."""
    fields: dict[str, object] = {
        "schemes": ("http", "https"),
        "ports": (80, 443, server.port),
        "allowed_networks": ("127.0.0.1/32",),
        "timeout_s": 5.0,
    }
    return UrlPolicy.model_validate(fields | overrides)


# The refusal table. Direct cases use the production default policy (https on 443, no
# exemptions); "redirect" cases are reached through a 302 from an allowed local server.

DIRECT = "direct"
REDIRECT = "redirect"
ADDRESS = "not a public address"
RESOLVES = "resolves to"

REFUSED = [
    # Literal IPv4, every spelling.
    ("loopback", DIRECT, "https://127.0.0.1/", ADDRESS),
    ("loopback-high", DIRECT, "https://127.255.255.254/", ADDRESS),
    ("private-10", DIRECT, "https://10.0.0.1/", ADDRESS),
    ("private-172", DIRECT, "https://172.16.5.4/", ADDRESS),
    ("private-192", DIRECT, "https://192.168.1.1/", ADDRESS),
    ("metadata", DIRECT, "https://169.254.169.254/latest/meta-data/", ADDRESS),
    ("unspecified", DIRECT, "https://0.0.0.0/", ADDRESS),
    ("zero-short", DIRECT, "https://0/", ADDRESS),
    ("cgnat", DIRECT, "https://100.64.0.1/", ADDRESS),
    ("multicast", DIRECT, "https://224.0.0.1/", ADDRESS),
    ("broadcast", DIRECT, "https://255.255.255.255/", ADDRESS),
    ("reserved", DIRECT, "https://240.0.0.1/", ADDRESS),
    ("documentation", DIRECT, "https://192.0.2.1/", ADDRESS),
    ("benchmark", DIRECT, "https://198.18.0.1/", ADDRESS),
    ("decimal", DIRECT, "https://2130706433/", ADDRESS),
    ("decimal-metadata", DIRECT, "https://2852039166/", ADDRESS),
    ("hex", DIRECT, "https://0x7f000001/", ADDRESS),
    ("octal", DIRECT, "https://0177.0.0.1/", ADDRESS),
    ("short", DIRECT, "https://127.1/", ADDRESS),
    ("mixed-forms", DIRECT, "https://0xa9.0376.43518/", ADDRESS),
    ("trailing-dot", DIRECT, "https://127.0.0.1./", ADDRESS),
    (
        "fullwidth",
        DIRECT,
        "https://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/",
        ADDRESS,
    ),
    ("bad-octal", DIRECT, "https://0128.0.0.1/", "octal"),
    ("five-parts", DIRECT, "https://1.2.3.4.5/", "neither a name nor an address"),
    # Literal IPv6.
    ("v6-loopback", DIRECT, "https://[::1]/", ADDRESS),
    ("v6-unspecified", DIRECT, "https://[::]/", ADDRESS),
    ("v6-mapped", DIRECT, "https://[::ffff:127.0.0.1]/", ADDRESS),
    ("v6-mapped-hex", DIRECT, "https://[::ffff:a9fe:a9fe]/", ADDRESS),
    ("v6-compatible", DIRECT, "https://[::127.0.0.1]/", ADDRESS),
    ("v6-metadata", DIRECT, "https://[fd00:ec2::254]/", ADDRESS),
    ("v6-link-local", DIRECT, "https://[fe80::1]/", ADDRESS),
    ("v6-zone", DIRECT, "https://[fe80::1%25eth0]/", "zone"),
    ("v6-unique-local", DIRECT, "https://[fc00::1]/", ADDRESS),
    ("v6-site-local", DIRECT, "https://[fec0::1]/", ADDRESS),
    ("v6-multicast", DIRECT, "https://[ff02::1]/", ADDRESS),
    ("v6-nat64-metadata", DIRECT, "https://[64:ff9b::a9fe:a9fe]/", ADDRESS),
    ("v6-6to4-loopback", DIRECT, "https://[2002:7f00:1::]/", ADDRESS),
    ("v6-teredo", DIRECT, "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", ADDRESS),
    ("v6-documentation", DIRECT, "https://[2001:db8::1]/", ADDRESS),
    # Names refused without resolving them.
    ("localhost", DIRECT, "https://localhost/", "host name"),
    ("localhost-upper-dot", DIRECT, "https://LOCALHOST./", "host name"),
    ("sub-localhost", DIRECT, "https://app.localhost/", "host name"),
    ("gcp-metadata-name", DIRECT, "https://metadata.google.internal/", "host name"),
    ("mdns", DIRECT, "https://printer.local/", "host name"),
    # Schemes, ports, userinfo, malformed.
    ("file", DIRECT, "file:///etc/passwd", "scheme"),
    ("gopher", DIRECT, "gopher://public.example:70/_GET", "scheme"),
    ("ftp", DIRECT, "ftp://public.example/", "scheme"),
    ("http-when-https-only", DIRECT, "http://public.example/", "scheme"),
    ("dict", DIRECT, "dict://public.example:11211/stat", "scheme"),
    ("port-ssh", DIRECT, "https://public.example:22/", "port"),
    ("port-redis", DIRECT, f"https://{PUBLIC_IP}:6379/", "port"),
    ("userinfo", DIRECT, "https://a@127.0.0.1/", "userinfo"),
    ("userinfo-public-looking", DIRECT, "https://public.example@127.0.0.1/", "userinfo"),
    ("userinfo-credentials", DIRECT, "https://user:pw@public.example/", "userinfo"),
    ("userinfo-backslash", DIRECT, "https://public.example\\@127.0.0.1/", "userinfo"),
    ("userinfo-fullwidth-at", DIRECT, "https://public.example\uff20127.0.0.1/", "parsed"),
    ("percent-encoded-host", DIRECT, "https://%31%32%37.0.0.1/", "host name"),
    ("no-host", DIRECT, "https:///etc/passwd", "host name"),
    ("crlf", DIRECT, "https://public.example/\r\nHost: 127.0.0.1", "control"),
    # Names that resolve (fake DNS) to addresses that are not public.
    ("dns-private", DIRECT, "https://private.example/", RESOLVES),
    ("dns-metadata", DIRECT, "https://metadata.example/latest/meta-data/", RESOLVES),
    ("dns-public-and-private", DIRECT, "https://mixed.example/", RESOLVES),
    ("dns-v6-loopback", DIRECT, "https://loopback6.example/", RESOLVES),
    ("dns-v6-mapped-private", DIRECT, "https://mapped.example/", RESOLVES),
    ("dns-unique-local", DIRECT, "https://ula.example/", RESOLVES),
    ("dns-cgnat", DIRECT, "https://cgnat.example/", RESOLVES),
    # Redirects from an allowed server: every hop is checked again.
    ("redirect-metadata", REDIRECT, "http://169.254.169.254/latest/meta-data/", ADDRESS),
    ("redirect-v6-loopback", REDIRECT, "http://[::1]/", ADDRESS),
    ("redirect-file", REDIRECT, "file:///etc/passwd", "scheme"),
    ("redirect-dns-private", REDIRECT, "http://private.example/", RESOLVES),
    ("redirect-decimal", REDIRECT, "http://2130706434/", ADDRESS),
    ("redirect-protocol-relative", REDIRECT, "//10.0.0.1/", ADDRESS),
    ("redirect-localhost", REDIRECT, "http://localhost/", "host name"),
    ("redirect-port", REDIRECT, f"http://{PUBLIC_IP}:25/", "port"),
    ("redirect-userinfo", REDIRECT, "http://x@127.0.0.1/", "userinfo"),
]


@pytest.mark.parametrize(
    ("how", "target", "reason"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_targets(
    how: str,
    target: str,
    reason: str,
    server: Server,
    connections: list[tuple[str, int]],
) -> None:
    dns = FakeDns(DNS)  # type: ignore[arg-type]
    if how == DIRECT:
        policy, url = UrlPolicy(), target
    else:
        policy = local_policy(server)
        server.routes["/hop"] = redirect(target)
        url = server.url("/hop")
    with pytest.raises(UrlRefused, match=reason) as refused:
        open_url(url, policy, resolver=dns).close()
    assert refused.value.code == "url_refused" and not refused.value.transient
    with pytest.raises(UrlRefused):
        post_json(url if how == DIRECT else target, b"{}", {}, policy, resolver=dns)
    # Nothing was connected to but the local server that answered the redirect.
    assert set(connections) <= {("127.0.0.1", server.port)}
    assert len(connections) == (1 if how == REDIRECT else 0)


def test_table_is_big_enough() -> None:
    assert len(REFUSED) >= 25


@pytest.mark.parametrize(
    "url",
    [
        "https://public.example/a/b.jpg?x=1",
        f"https://{PUBLIC_IP}/",
        "https://[2606:4700:4700::1111]/",
        "https://[::ffff:8.8.8.8]/",
        "https://\u00e9xample.com/",
        "https://8.8.8.8:443/x#fragment",
    ],
)
def test_public_urls_pass_the_static_checks(url: str) -> None:
    parsed = check_url(url, UrlPolicy())
    assert parsed.scheme == "https" and parsed.port == 443
    assert "#" not in parsed.url


def test_check_url_normalises() -> None:
    parsed = check_url("HTTPS://\u00c9xample.COM./p\u00e4th?q=a b".replace(" ", "%20"), UrlPolicy())
    assert parsed.host == "xn--xample-9ua.com"
    assert parsed.url == "https://xn--xample-9ua.com/p%C3%A4th?q=a%20b"
    assert check_url("https://2130706433/", UrlPolicy(allowed_networks=("127.0.0.0/8",))).host == (
        "127.0.0.1"
    )


def test_is_public() -> None:
    policy = UrlPolicy(allowed_networks=("10.1.0.0/16",))
    assert is_public("8.8.8.8", policy)
    assert is_public("2606:4700:4700::1111", policy)
    assert is_public("::ffff:8.8.8.8", policy)  # judged by the embedded address
    assert is_public("2002:808:808::1", policy)  # 6to4 of a public address
    assert is_public("10.1.2.3", policy)  # exempt
    assert is_public("::ffff:10.1.2.3", policy)  # exempt, through the mapping
    assert not is_public("10.2.0.1", policy)
    assert not is_public("64:ff9b::a00:1", policy)  # NAT64 of 10.0.0.1


def test_policy_from_settings() -> None:
    settings = Settings(
        url_schemes=("https", "http"),
        url_ports=(443, 8443),
        url_allowed_networks=("10.9.0.0/16",),
        url_timeout_s=7,
        url_max_redirects=2,
        max_source_bytes=1000,
    )
    policy = UrlPolicy.from_settings(settings)
    assert policy.schemes == ("https", "http") and policy.ports == (443, 8443)
    assert policy.max_redirects == 2 and policy.max_bytes == 1000 and policy.timeout_s == 7
    assert is_public("10.9.1.1", policy)
    with pytest.raises(ValueError):
        UrlPolicy(schemes=("ftp",))
    with pytest.raises(ValueError):
        UrlPolicy(allowed_networks=("not-a-network",))


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
    with pytest.raises(UrlRefused, match="10.0.0.1"):
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


# Callbacks.


def test_post_json_sends_body_and_headers(server: Server) -> None:
    server.routes["/hook"] = status(204)
    body = b'{"job_id": "j1", "status": "succeeded"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-signature": "v1,abc=",
        "host": "evil.example",
        "content-type": "application/json; charset=utf-8",
        "content-length": "1",
    }
    dns = FakeDns({"hooks.example": ["127.0.0.1"]})
    url = f"http://hooks.example:{server.port}/hook?token=t"
    assert post_json(url, body, headers, local_policy(server), resolver=dns) == 204
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook?token=t", body)
    assert request.headers["webhook-signature"] == "v1,abc="
    names = [name.lower() for name, _ in request.header_list]
    assert names.count("host") == names.count("content-type") == names.count("content-length") == 1
    assert request.headers["host"] == f"hooks.example:{server.port}"  # never the caller's
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["content-length"] == str(len(body))


def test_post_json_defaults_the_content_type(server: Server) -> None:
    server.routes["/hook"] = status(200)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 200
    assert server.requests[0].headers["content-type"] == "application/json"


def test_post_json_does_not_follow_redirects(server: Server) -> None:
    server.routes["/hook"] = redirect("/elsewhere", code=307)
    server.routes["/elsewhere"] = status(200)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 307
    assert [r.path for r in server.requests] == ["/hook"]


def test_post_json_returns_error_statuses(server: Server) -> None:
    server.routes["/hook"] = status(500)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 500


def test_post_json_refuses_private_targets(connections: list[tuple[str, int]]) -> None:
    dns = FakeDns(DNS)  # type: ignore[arg-type]
    for url in (
        "https://169.254.169.254/latest/meta-data/",
        "https://private.example/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
    ):
        with pytest.raises(UrlRefused):
            post_json(url, b"{}", {}, UrlPolicy(), resolver=dns)
    assert connections == []
