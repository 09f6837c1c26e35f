"""The ingest benchmark's load generator: N keep-alive HTTP/1.1 connections on raw asyncio
streams.

The server and the client share two cores, so the client must cost far less per request
than the server, or the benchmark measures the client. httpx spends more CPU per request
than a bare Starlette endpoint does; this client writes pre-formatted request bytes and
parses only the status line and ``Content-Length`` of each response (no pipelining: one
request in flight per connection, as real clients do). It reports its own CPU so the
report can say whether the server was the bottleneck.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_SAMPLES = 3  # non-202 bodies kept per window, to show what went wrong


@dataclass
class LoadResult:
    """One timed window of load against one server."""

    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, one per response
    samples: list[str] = field(default_factory=list)  # heads and bodies of non-202s
    errors: list[str] = field(default_factory=list)  # connection-level failures

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def request_factory(host: str, port: int, token: str, prefix: str) -> Callable[[], bytes]:
    """Bytes of ``POST /v1/jobs`` with the bearer key and a new S3 key each call (no
    Idempotency-Key, so the real API creates a job for every one). Both sides get the same
    bytes; the bare app ignores the header."""
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    ).encode()
    counter = iter(range(1, 1 << 62))

    def make() -> bytes:
        key = f"{prefix}/{next(counter)}.jpg"
        body = f'{{"source": {{"bucket": "heavylift-uploads", "key": "{key}"}}}}'.encode()
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    return make


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lowered.find(b"\r\n", at + 2)
    return int(lowered[at + 17 : end])


async def _connection(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    make: Callable[[], bytes],
    stop_at: float,
    result: LoadResult,
) -> None:
    """One keep-alive connection, one request at a time, until ``stop_at``."""
    reader, writer = streams
    clock = time.perf_counter
    try:
        while (sent := clock()) < stop_at:
            writer.write(make())
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await reader.readexactly(length) if length else b""
            result.latencies.append(clock() - sent)
            status = int(head[9:12])
            result.statuses[status] += 1
            if status != 202 and len(result.samples) < MAX_SAMPLES:
                result.samples.append((head + body).decode("latin-1")[:600])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _load(
    host: str, port: int, make: Callable[[], bytes], connections: int, seconds: float
) -> LoadResult:
    """Connect first, then start the clock: the window holds requests, not handshakes."""
    result = LoadResult()
    opened = await asyncio.gather(
        *(asyncio.open_connection(host, port) for _ in range(connections)),
        return_exceptions=True,
    )
    streams = [s for s in opened if not isinstance(s, BaseException)]
    result.errors += [f"connect: {e}" for e in opened if isinstance(e, BaseException)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(s, make, started + seconds, result) for s in streams))
    # Requests sent before the deadline finish after it: count them and their time.
    result.seconds = time.perf_counter() - started
    result.requests = sum(result.statuses.values())
    return result


def run_load(
    host: str, port: int, make: Callable[[], bytes], *, connections: int, seconds: float
) -> LoadResult:
    """``connections`` keep-alive connections sending back to back for ``seconds``."""
    return asyncio.run(_load(host, port, make, connections, seconds))
