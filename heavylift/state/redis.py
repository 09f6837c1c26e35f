"""The Redis connection: one client (one connection pool) per process and settings.

Producers, the worker's broker, its actors and its housekeeping all talk to the same Redis;
before this module each built its own client, so one worker process held three pools.
:func:`shared_client` hands every caller in a process the same one. A fresh process (the
supervisor starts workers with ``subprocess``, never ``fork``) makes its own.
"""

from __future__ import annotations

from functools import lru_cache

import redis

from heavylift.config import Settings

# Errors meaning "Redis cannot take this write now": down, starting, full (noeviction), or a
# replica during failover. All of them must turn into 503s and retries, never 500s.
REDIS_DOWN = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


def as_text(reply: object) -> str:
    """A key or value Redis returned, as text (clients here answer bytes; keys are ASCII, and
    a stored value that is not UTF-8 is shown, not trusted)."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def connect(url: str, socket_timeout: float = 5.0) -> redis.Redis:
    """A new client that fails fast, so producers can answer 503 instead of hanging."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=30,
    )


@lru_cache(maxsize=8)
def _shared(url: str, socket_timeout: float) -> redis.Redis:
    return connect(url, socket_timeout)


def shared_client(settings: Settings) -> redis.Redis:
    """This process's client for ``settings`` (thread-safe: redis-py pools connections)."""
    return _shared(settings.redis_url, settings.redis_socket_timeout_s)
