"""The outage proxy over real sockets: bytes round-trip (big bodies, many connections, half
closes), an outage refuses connections and cuts open ones, and resuming reuses the port."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.outage_proxy import OutageProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default backlog of 5 drops bursts of connects


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield str(host), int(port)
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[OutageProxy]:
    with OutageProxy(*echo) as running:
        yield running


def connect(proxy: OutageProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def round_trip(proxy: OutageProxy, payload: bytes) -> bytes:
    """Send everything, half-close, read the echo until the proxy passes the EOF back."""
    with connect(proxy) as sock:

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while chunk := sock.recv(1 << 20):
            received += chunk
        sender.join()
    return bytes(received)


def test_bytes_round_trip_including_a_large_body(proxy: OutageProxy) -> None:
    assert proxy.url == f"http://127.0.0.1:{proxy.port}"
    assert round_trip(proxy, b"hello") == b"hello"
    big = os.urandom(8 * 1024 * 1024)  # larger than any buffer on the way: must stream
    assert round_trip(proxy, big) == big


def test_dozens_of_concurrent_connections(proxy: OutageProxy) -> None:
    payloads = [os.urandom(200_000) for _ in range(40)]
    with ThreadPoolExecutor(40) as pool:
        echoed = list(pool.map(lambda p: round_trip(proxy, p), payloads))
    assert echoed == payloads
    assert proxy.connections == 40


def test_paused_refuses_connections_and_resume_reuses_the_port(proxy: OutageProxy) -> None:
    port = proxy.port
    proxy.pause()
    assert proxy.paused
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.resume()
    assert not proxy.paused and proxy.port == port
    assert round_trip(proxy, b"back again") == b"back again"


def test_an_outage_cuts_open_connections(proxy: OutageProxy) -> None:
    sock = connect(proxy)
    sock.sendall(b"ping")
    assert sock.recv(16) == b"ping"  # the connection is established end to end
    proxy.pause()
    try:
        sock.sendall(b"more")
        assert sock.recv(16) == b""  # closed by the proxy ...
    except ConnectionResetError:  # ... or reset, as a crashed endpoint's would be
        pass
    finally:
        sock.close()
    assert proxy.cut == 1
    proxy.resume()
    assert round_trip(proxy, b"x") == b"x"


def test_outage_context_manager_lasts_at_least_its_seconds(proxy: OutageProxy) -> None:
    started = time.monotonic()
    with proxy.outage(0.3):
        with pytest.raises(ConnectionRefusedError):
            connect(proxy)
    assert time.monotonic() - started >= 0.3
    assert 0.3 <= proxy.outage_seconds < 2
    assert round_trip(proxy, b"after") == b"after"


def test_a_dead_target_looks_like_a_dead_endpoint() -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    with OutageProxy("127.0.0.1", dead_port) as proxy:
        try:  # the reset may even beat connect() back to the client
            with connect(proxy) as sock:
                assert sock.recv(16) == b""
        except ConnectionResetError:
            pass


def test_stop_closes_the_port(echo: tuple[str, int]) -> None:
    proxy = OutageProxy(*echo).start()
    assert round_trip(proxy, b"x") == b"x"
    proxy.stop()
    proxy.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
