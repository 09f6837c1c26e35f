"""Job records in Redis: one JSON document per job under ``<ns>:job:<id>``.

Records live in the same Redis as the queues, so a worker on any machine sees the same
state. Every change is a compare-and-set (WATCH/MULTI), so concurrent writers never lose
each other's updates. Any Redis connection failure surfaces as ``BrokerUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from heavylift.errors import BrokerUnavailable
from heavylift.models import JobRecord, utcnow

# Errors meaning "Redis cannot take this write now": down, starting, full (noeviction), or a
# replica during failover. All of them must turn into 503s and retries, never 500s.
REDIS_DOWN = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


@contextmanager
def translate_redis_errors() -> Iterator[None]:
    try:
        yield
    except REDIS_DOWN as exc:
        raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc


def connect(url: str, socket_timeout: float = 5.0) -> redis.Redis:
    """A client that fails fast, so producers can answer 503 instead of hanging."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=30,
    )


class JobStore:
    def __init__(self, client: redis.Redis, namespace: str, ttl_seconds: int) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def key(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}"

    def get(self, job_id: str) -> JobRecord | None:
        with translate_redis_errors():
            raw = self.client.get(self.key(job_id))
        return None if raw is None else JobRecord.model_validate_json(raw)

    def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store ``record`` unless the job exists; return the stored record and whether it's new."""
        with translate_redis_errors():
            created = self.client.set(
                self.key(record.job_id), record.model_dump_json(), nx=True, ex=self.ttl_seconds
            )
        if created:
            return record, True
        existing = self.get(record.job_id)
        if existing is None:  # expired between the two calls: try once more
            return self.create(record)
        return existing, False

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None]
    ) -> JobRecord | None:
        """Apply ``change`` atomically. ``change`` returns the new record, or None to leave it."""
        key = self.key(job_id)
        with translate_redis_errors(), self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        pipe.unwatch()
                        return None
                    current = JobRecord.model_validate_json(raw)
                    new = change(current.model_copy(deep=True))
                    if new is None:
                        pipe.unwatch()
                        return current
                    new.updated_at = utcnow()
                    pipe.multi()
                    pipe.set(key, new.model_dump_json(), ex=self.ttl_seconds)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def delete(self, job_id: str) -> None:
        with translate_redis_errors():
            self.client.delete(self.key(job_id))

    def ping(self) -> None:
        with translate_redis_errors():
            self.client.ping()
