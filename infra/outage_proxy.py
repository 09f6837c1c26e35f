"""A TCP proxy that can play dead: put it in front of a service (moto's S3, say) and call
:meth:`OutageProxy.pause` to make that service vanish as a crashed endpoint does. Open
connections are cut (RST) and the listening socket is closed, so new connections are
refused; :meth:`OutageProxy.resume` listens again on the same port.

It runs its own asyncio loop in a daemon thread and streams in both directions with
back-pressure (``drain``), so large bodies never sit whole in memory and dozens of
concurrent connections cost one thread.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

CHUNK_BYTES = 256 * 1024
CALL_TIMEOUT_S = 10.0


class OutageProxy:
    """Forward ``host:port`` (a free port unless given) to ``target_host:target_port``."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every live connection
        self._clients: set[asyncio.StreamWriter] = set()  # the accepted end of each
        self._paused_at: float | None = None
        self.outage_seconds = 0.0  # total time spent paused, for reports
        self.connections = 0  # accepted over the proxy's life
        self.cut = 0  # connections closed by an outage

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the proxy has no port before start()")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OutageProxy:
        if self._loop is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"outage-proxy-{self.target[1]}", daemon=True
        )
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close everything and end the loop thread (safe to call twice)."""
        loop = self._loop
        if loop is None:
            return
        self._call(self._go_down(count=False))
        self._call(self._settle())
        if self._paused_at is not None:
            self.outage_seconds += time.monotonic() - self._paused_at
            self._paused_at = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(CALL_TIMEOUT_S)
        loop.close()
        self._loop = self._thread = None

    def pause(self) -> None:
        """Start an outage: cut open connections, refuse new ones."""
        if self.paused:
            return
        self._paused_at = time.monotonic()
        self._call(self._go_down())

    def resume(self) -> None:
        """End the outage: listen again on the same port."""
        if self._paused_at is None:
            return
        self._call(self._listen())
        self.outage_seconds += time.monotonic() - self._paused_at
        self._paused_at = None

    @contextmanager
    def outage(self, seconds: float | None = None) -> Iterator[OutageProxy]:
        """Down for the body of the ``with`` block, and at least ``seconds`` if given:
        ``with proxy.outage(10): pass`` is a 10 s outage."""
        self.pause()
        started = time.monotonic()
        try:
            yield self
        finally:
            if seconds is not None:
                time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            self.resume()

    def __enter__(self) -> OutageProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inside the loop thread ----------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("the proxy is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_S)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, reuse_address=True, backlog=256
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _go_down(self, count: bool = True) -> None:
        if self._server is not None:
            self._server.close()  # not wait_closed(): on 3.12+ it waits for the connections
            self._server = None
        if count:
            self.cut += len(self._clients)
        for writer in list(self._open):
            _reset(writer)
        self._open.clear()
        self._clients.clear()

    async def _settle(self) -> None:
        """Let the handlers of cut connections finish before the loop stops."""
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(writer)
        self._clients.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._open.discard(writer)
            self._clients.discard(writer)
            _reset(writer)  # the target itself is down: look like it
            return
        if self.paused or writer not in self._open:  # an outage began while connecting
            self._clients.discard(writer)
            _reset(up_writer)
            _reset(writer)
            return
        self._open.add(up_writer)
        try:
            await asyncio.gather(
                _pipe(reader, up_writer, writer), _pipe(up_reader, writer, up_writer)
            )
        finally:
            self._clients.discard(writer)
            for end in (writer, up_writer):
                if end in self._open:
                    self._open.discard(end)
                    end.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reader_side: asyncio.StreamWriter
) -> None:
    """Copy one direction until EOF, then half-close; an error aborts both ends."""
    try:
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):  # reset, or the other end already closed
        writer.transport.abort()
        reader_side.transport.abort()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, as a crashed peer's kernel would, rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
