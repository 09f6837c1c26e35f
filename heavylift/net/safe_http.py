"""Fetch client-given URLs (job sources, callbacks) without becoming an SSRF proxy.

Every URL and every redirect hop passes ``heavylift.net.url_policy`` (scheme, port, host, IP
literals), its host is resolved once, every address is checked, and the connection is made
to the checked address: there is no second lookup for DNS rebinding to slip through, while
TLS is still verified against the host name. Bytes and time are capped.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError
from urllib3.util.ssl_match_hostname import CertificateError

from heavylift.errors import (
    AccessDenied,
    NotFound,
    SourceFailed,
    SourceUnavailable,
    TooLarge,
    UrlRefused,
)
from heavylift.net.url_policy import (
    IPAddress,
    ParsedUrl,
    Resolver,
    UrlPolicy,
    check_url,
    is_public,
)

__all__ = [
    "ParsedUrl",
    "UrlPolicy",
    "UrlReader",
    "check_url",
    "is_public",
    "open_url",
    "post_json",
    "system_resolver",
]

log = logging.getLogger(__name__)

REDIRECTS = {301, 302, 303, 307, 308}
CHUNK_BYTES = 256 * 1024
USER_AGENT = "heavylift"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _addresses(parsed: ParsedUrl, policy: UrlPolicy, resolver: Resolver | None) -> list[IPAddress]:
    """Resolve once; refuse if ANY answer is not public (one bad answer taints the name)."""
    if parsed.ip is not None:
        return [parsed.ip]
    try:
        answers = (resolver or system_resolver)(parsed.host, parsed.port)
    except OSError as exc:
        raise SourceUnavailable(f"cannot resolve {parsed.host}: {exc}") from exc
    if not answers:
        raise SourceUnavailable(f"{parsed.host} has no address")
    addresses = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer)
        except ValueError:
            ip = None
        if ip is None or not is_public(ip, policy):
            # What our DNS answered is a fact about our network: the log has it, the
            # client's error message does not.
            log.warning("URL refused by its address", extra={"host": parsed.host, "ip": answer})
            raise UrlRefused(f"{parsed.host} resolves to an address that is not public")
        addresses.append(ip)
    return addresses


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Network failures as typed errors: bad certificates are permanent, the rest transient."""
    try:
        yield
    except (HTTPError, OSError, http.client.HTTPException) as exc:
        if _certificate_problem(exc):
            raise SourceFailed(f"{url}: TLS certificate not valid: {exc}") from exc
        raise SourceUnavailable(f"{url}: {exc}") from exc


def _certificate_problem(exc: BaseException, depth: int = 0) -> bool:
    if isinstance(exc, ssl.SSLCertVerificationError | CertificateError):
        return True
    inner = [a for a in exc.args if isinstance(a, BaseException)] + [exc.__cause__, exc.__context__]
    return depth < 5 and any(_certificate_problem(e, depth + 1) for e in inner if e is not None)


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceUnavailable(f"{url}: took longer than the time limit")
    return left


def _send(
    parsed: ParsedUrl,
    policy: UrlPolicy,
    resolver: Resolver | None,
    deadline: float,
    method: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> UrlReader:
    """One request to a checked address of ``parsed`` (the next one if connecting fails)."""
    fields = urllib3.HTTPHeaderDict({"User-Agent": USER_AGENT})
    fields.update(headers)  # case-insensitive: a caller's "host" replaces, never duplicates
    fields["Host"] = parsed.authority
    for framing in ("Content-Length", "Transfer-Encoding"):
        fields.pop(framing, None)  # urllib3 frames the body itself
    failure: Exception | None = None
    for ip in _addresses(parsed, policy, resolver):
        pool = _pool(parsed, ip, policy, min(policy.timeout_s, _remaining(deadline, parsed.url)))
        try:
            with _translated(parsed.url):
                response = pool.urlopen(
                    method, parsed.target, body=body, headers=fields, retries=False,
                    redirect=False, assert_same_host=False, preload_content=False,
                    decode_content=False,
                )  # fmt: skip
            return UrlReader(pool, response, parsed.url, policy, deadline)
        except SourceUnavailable as exc:
            pool.close()
            if not isinstance(exc.__cause__, ConnectTimeoutError):  # includes refused/unreachable
                raise
            failure = exc
        except BaseException:
            pool.close()
            raise
    assert failure is not None
    raise failure


def _pool(
    parsed: ParsedUrl, ip: IPAddress, policy: UrlPolicy, wait: float
) -> urllib3.HTTPConnectionPool:
    """A connection pool for the checked address; TLS (SNI, certificate) still uses the name."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    timeout = urllib3.Timeout(connect=wait, read=wait)
    if parsed.scheme == "http":
        return urllib3.HTTPConnectionPool(str(ip), parsed.port, timeout=timeout, maxsize=1)
    return urllib3.HTTPSConnectionPool(
        str(ip), parsed.port, timeout=timeout, maxsize=1, server_hostname=parsed.host,
        cert_reqs="CERT_REQUIRED", ca_certs=policy.ca_certs,
    )  # fmt: skip


def _check_status(status: int, url: str) -> None:
    if 200 <= status < 300:
        return
    if status in (404, 410):
        raise NotFound(f"{url} answered {status}")
    if status in (401, 403):
        raise AccessDenied(f"{url} answered {status}")
    if status in (408, 425, 429) or status >= 500:
        raise SourceUnavailable(f"{url} answered {status}")
    raise SourceFailed(f"{url} answered {status}")  # other 4xx, 3xx without a Location


class UrlReader:
    """A streamed response body with the ``ObjectReader`` interface, capped in bytes and time."""

    def __init__(
        self,
        pool: urllib3.HTTPConnectionPool,
        response: urllib3.BaseHTTPResponse,
        url: str,
        policy: UrlPolicy,
        deadline: float,
    ) -> None:
        self.url, self.status, self.headers = url, response.status, response.headers
        self._pool, self._response, self._policy, self._deadline = pool, response, policy, deadline
        self._bytes_read = 0
        length = response.headers.get("Content-Length", "")
        self.size = int(length) if length.isdigit() else 0

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (fewer if that is what has arrived); b"" at the end."""
        size = size if size and size > 0 else CHUNK_BYTES
        limit = self._policy.max_bytes
        left = _remaining(self._deadline, self.url)
        sock = getattr(self._response.connection, "sock", None)
        if sock is not None:  # the total deadline also bounds a server dripping bytes
            sock.settimeout(min(self._policy.timeout_s, left))
        with _translated(self.url):
            chunk = self._response.read1(min(size, limit + 1 - self._bytes_read))
        self._bytes_read += len(chunk)
        if self._bytes_read > limit:
            raise TooLarge(f"{self.url} is larger than the {limit}-byte limit")
        return chunk

    def close(self) -> None:
        self._response.close()
        self._pool.close()

    def __enter__(self) -> UrlReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_url(url: str, policy: UrlPolicy, *, resolver: Resolver | None = None) -> UrlReader:
    """GET ``url`` for streaming, following redirects by hand so every hop is checked again."""
    deadline = time.monotonic() + policy.total_timeout_s
    for _ in range(policy.max_redirects + 1):
        parsed = check_url(url, policy)
        reader = _send(parsed, policy, resolver, deadline, "GET", {"Accept-Encoding": "identity"})
        location = reader.headers.get("Location")
        if reader.status in REDIRECTS and location:
            reader.close()
            url = urljoin(parsed.url, location)
            continue
        try:
            _check_status(reader.status, parsed.url)
            if reader.size > policy.max_bytes:
                raise TooLarge(f"{parsed.url} is {reader.size} bytes, limit is {policy.max_bytes}")
        except BaseException:
            reader.close()
            raise
        return reader
    raise UrlRefused(f"more than {policy.max_redirects} redirects")


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: UrlPolicy,
    *,
    resolver: Resolver | None = None,
) -> int:
    """POST a callback under the same rules; redirects are not followed (3xx is returned).

    The answer's body is not read: the connection is dropped instead."""
    parsed = check_url(url, policy)
    deadline = time.monotonic() + policy.total_timeout_s
    fields = {"Content-Type": "application/json", **headers}  # the caller's type wins
    with _send(parsed, policy, resolver, deadline, "POST", fields, body) as answer:
        return answer.status
