"""Which URLs workers may fetch: strict parsing and address rules against SSRF.

A URL from the internet must not lead a worker to loopback, the private network or the
cloud metadata service. :func:`check_url` parses strictly (IP literals in every spelling
``inet_aton`` accepts, IPv6 with embedded IPv4) and needs no DNS, so the API can refuse a bad
URL at submission; :func:`is_public` judges each address a name resolves to at fetch time
(``heavylift.net.safe_http``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from heavylift.config import Settings
from heavylift.errors import UrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}

# Not globally reachable (IANA special-purpose registries), checked on top of ``is_global``,
# whose coverage changes between Python versions. 2001::/23 includes Teredo; ::ffff:0:0:0/96
# is IPv4-translated (RFC 2765), which Python's ``is_global`` and ``ipv4_mapped`` both miss.
_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_BLOCKED_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_BLOCKED_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f]")


class UrlPolicy(BaseModel):
    """What workers may fetch, and how much and how long."""

    model_config = ConfigDict(frozen=True)

    schemes: tuple[str, ...] = ("https",)
    ports: tuple[int, ...] = (443,)
    allowed_networks: tuple[str, ...] = Field(
        default=(), description="CIDRs exempt from the address refusal (internal sources, tests)."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per connect and per read.")
    total_timeout_s: float = Field(default=3600.0, gt=0, description="Whole fetch, body included.")
    max_redirects: int = Field(default=5, ge=0)
    max_bytes: int = Field(default=5 * 1024**3, ge=0)
    ca_certs: str | None = Field(default=None, description="PEM CAs to trust instead of the OS's.")

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(scheme.lower() for scheme in value)
        if not set(value) <= set(DEFAULT_PORTS):
            raise ValueError(f"only http and https can be fetched, not {value}")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return _parse_networks(self.allowed_networks)

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            schemes=settings.url_schemes,
            ports=settings.url_ports,
            allowed_networks=settings.url_allowed_networks,
            timeout_s=settings.url_timeout_s,
            total_timeout_s=float(settings.max_job_seconds),
            max_redirects=settings.url_max_redirects,
            max_bytes=settings.max_source_bytes,
        )


@lru_cache(maxsize=64)
def _parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Parsed on use, not cached on the model, where ``model_copy`` would keep a stale copy."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


class ParsedUrl(NamedTuple):
    scheme: str
    host: str  # IDNA (ASCII), lower case, no trailing dot; an IPv6 literal without brackets
    port: int
    target: str  # path and query, as sent in the request line
    ip: IPAddress | None  # set when the host is an IP literal (already checked)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


def is_public(ip: str | IPAddress, policy: UrlPolicy) -> bool:
    """Whether ``ip`` may be connected to: globally reachable unicast, or explicitly allowed.

    IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if any(ip in network for network in policy.networks):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and (ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1)):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded, policy)
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _BLOCKED)


def check_url(url: str, policy: UrlPolicy) -> ParsedUrl:
    """Static checks, no DNS (the API can run them at submission): scheme, port, userinfo,
    host name, and the address when the host is an IP literal in any spelling."""
    if _FORBIDDEN_CHARS.search(url):
        raise UrlRefused("URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"URL cannot be parsed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        raise UrlRefused(f"scheme {scheme or '(none)'!r} is not allowed")
    if "@" in parts.netloc or "\\" in parts.netloc:
        raise UrlRefused("URL carries userinfo (user@host)")
    port = port or DEFAULT_PORTS[scheme]
    if port not in policy.ports:
        raise UrlRefused(f"port {port} is not allowed")
    host, ip = _parse_host(parts.hostname or "", bracketed=parts.netloc.startswith("["))
    if ip is not None and not is_public(ip, policy):
        raise UrlRefused(f"{ip} is not a public address")
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=~")
    return ParsedUrl(scheme, host, port, target, ip)


def _parse_host(host: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The normalised host and, for IP literals, their address."""
    if bracketed:
        if "%" in host:
            raise UrlRefused("IPv6 zone identifiers are not allowed")
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise UrlRefused(f"invalid IPv6 literal {host!r}") from exc
        return str(ip6), ip6
    try:  # IDNA first: full-width digits and dots must not dodge the checks below
        host = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError as exc:
        raise UrlRefused(f"invalid host name {host!r}") from exc
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UrlRefused(f"invalid host name {host!r}")
    if _NUMBER.match(labels[-1]):  # what inet_aton and browsers read as an IPv4 address
        ip4 = _legacy_ipv4(labels)
        return str(ip4), ip4
    if host in _BLOCKED_NAMES or host.endswith(_BLOCKED_SUFFIXES):
        raise UrlRefused(f"host name {host!r} is not allowed")
    return host, None


def _legacy_ipv4(labels: list[str]) -> ipaddress.IPv4Address:
    """``2130706433``, ``0x7f.1``, ``0177.0.0.1``...: the address ``inet_aton`` would read."""
    numbers = []
    for label in labels:
        if len(labels) > 4 or not _NUMBER.match(label):
            raise UrlRefused(f"host {'.'.join(labels)!r} is neither a name nor an address")
        if label.startswith("0x"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            try:
                numbers.append(int(label, 8))
            except ValueError as exc:
                raise UrlRefused(f"invalid octal in host {'.'.join(labels)!r}") from exc
        else:
            numbers.append(int(label))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UrlRefused(f"host {'.'.join(labels)!r} is out of the IPv4 range")
    return ipaddress.IPv4Address(sum(n << 8 * (3 - i) for i, n in enumerate(head)) + last)
