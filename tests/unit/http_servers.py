"""Local HTTP(S) servers for tests of outbound fetching: routes are small functions.

Each server binds a loopback address on a free port, records every request it gets, and
serves each route with a function of the request handler (see the route builders below).
Slow routes wait on ``server.released`` so that stopping the server never waits for them.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = Callable[["Handler"], None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; the last of repeated headers
    body: bytes
    header_list: list[tuple[str, str]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature)
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                list(self.headers.items()),
            )
        )
        route = self.server.routes.get(self.path.split("?")[0], status(404))
        self.close_connection = True
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up, as several tests make it

    do_GET = do_POST = _handle

    def start(self, code: int, headers: dict[str, str]) -> None:
        self.send_response(code)
        for name, value in {"Connection": "close", **headers}.items():
            self.send_header(name, value)
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.released = threading.Event()
        self.scheme = "http"
        self.host = host

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str | None = None) -> str:
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{host}:{self.port}{path}"

    def use_tls(self, cert_file: Path, key_file: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # failed handshakes and aborted clients are what some tests are about


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


# Route builders.


def status(code: int, headers: dict[str, str] | None = None) -> Route:
    def route(handler: Handler) -> None:
        handler.start(code, {"Content-Length": "0", **(headers or {})})

    return route


def redirect(location: str, code: int = 302) -> Route:
    return status(code, {"Location": location})


def payload(data: bytes, *, chunked: bool = False) -> Route:
    """``data`` with a Content-Length, or in chunked transfer encoding without one."""

    def route(handler: Handler) -> None:
        if not chunked:
            handler.start(200, {"Content-Length": str(len(data))})
            handler.wfile.write(data)
            return
        handler.start(200, {"Transfer-Encoding": "chunked"})
        for start in range(0, len(data), 64 * 1024):
            piece = data[start : start + 64 * 1024]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def stall(before_headers: bool, first_bytes: bytes = b"") -> Route:
    """A server that stops answering, before its headers or after ``first_bytes`` of body."""

    def route(handler: Handler) -> None:
        if not before_headers:
            handler.start(200, {"Content-Length": "1000000"})
            handler.wfile.write(first_bytes)
            handler.wfile.flush()
        handler.server.released.wait(30)

    return route


def drip(interval_s: float) -> Route:
    """One byte every ``interval_s``: each read is quick, the whole never ends."""

    def route(handler: Handler) -> None:
        handler.start(200, {"Content-Length": "1000000"})
        while not handler.server.released.wait(interval_s):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    return route


def redirect_chain(prefix: str) -> dict[str, Route]:
    """``{prefix}/0`` redirects to ``{prefix}/1`` ... up to ``{prefix}/19``, which answers."""
    routes = {f"{prefix}/{n}": redirect(f"{prefix}/{n + 1}") for n in range(19)}
    routes[f"{prefix}/19"] = payload(b"end of the chain")
    return routes


# Certificates.


def make_certificates(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for ``hostname``: (ca, cert, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("heavylift test CA"))
        .issuer_name(name("heavylift test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def elapsed(start: float) -> float:
    return time.monotonic() - start
