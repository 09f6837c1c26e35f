"""SSRF-safe fetching: what is refused, without ever connecting, and the static URL checks.

The refusal table covers every spelling of a private, loopback or metadata address, names
refused without resolving them, schemes, ports, userinfo, names that resolve to private
addresses, and redirects to any of these from an allowed local server. "Refused" is checked to
mean "nothing was connected to" but the local server that sent the redirect.
"""

from __future__ import annotations

import pytest

from heavylift.config import Settings
from heavylift.errors import UrlRefused
from heavylift.net.safe_http import UrlPolicy, check_url, is_public, open_url, post_json
from tests.unit.http_servers import Server, redirect
from tests.unit.safe_http.helpers import DNS, PUBLIC_IP, FakeDns, local_policy

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
    # IPv4-translated (RFC 2765, ::ffff:0:0:0/96): no route on the internet, and a path to
    # the embedded address through a translator.
    ("v6-translated", DIRECT, "https://[::ffff:0:127.0.0.1]/", ADDRESS),
    ("v6-translated-hex", DIRECT, "https://[::ffff:0:7f00:1]/", ADDRESS),
    ("v6-translated-metadata", DIRECT, "https://[::ffff:0:169.254.169.254]/", ADDRESS),
    ("v6-translated-public", DIRECT, "https://[::ffff:0:8.8.8.8]/", ADDRESS),
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
    ("dns-v6-translated", DIRECT, "https://translated.example/", RESOLVES),
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


@pytest.mark.parametrize("host", ["private.example", "metadata.example", "translated.example"])
def test_a_refusal_does_not_say_what_internal_dns_answered(host: str) -> None:
    """The client learns its URL was refused, not the addresses of our network."""
    with pytest.raises(UrlRefused) as refused:
        open_url(f"https://{host}/", UrlPolicy(), resolver=FakeDns(DNS)).close()  # type: ignore[arg-type]
    for answer in DNS[host]:
        assert str(answer) not in refused.value.message
    assert host in refused.value.message


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
