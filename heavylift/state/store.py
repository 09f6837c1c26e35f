"""Job records in Redis: one JSON document per job under ``<ns>:job:<id>``.

Every write also keeps the job index (``heavylift.state.index``) in the same atomic step, so
the dashboard's job list never shows a job under a state it has left.

Records live in the same Redis as the queues, so a worker on any machine sees the same
state. Every change is a compare-and-set (WATCH/MULTI), so concurrent writers never lose
each other's updates. Any Redis connection failure surfaces as ``BrokerUnavailable``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from heavylift.errors import BrokerUnavailable, QueueFull
from heavylift.jobs.models import JobRecord, utcnow
from heavylift.state import index as job_index

log = logging.getLogger(__name__)
T = TypeVar("T")

# Index entries (``heavylift.state.index``) of a new record: KEYS[first] is the index registry,
# the KEYS after it the record's index sets; ARGV[score_at] its score, ARGV[score_at + 1] its id.
_ADD_TO_INDEX = """
local function add_to_index(first, score_at)
  for i = first + 1, #KEYS do redis.call("zadd", KEYS[i], ARGV[score_at], ARGV[score_at + 1]) end
  redis.call("sadd", KEYS[first], unpack(KEYS, first + 1))
end
"""

# KEYS: record, index registry, index sets... ARGV: record JSON, TTL, score, job id.
_CREATE = (
    _ADD_TO_INDEX
    + """
if not redis.call("set", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
  return {0, redis.call("get", KEYS[1])}
end
add_to_index(2, 3)
return {1, ""}
"""
)

# KEYS: record, queue list, queue hash, metrics hash, history minute hash, index registry,
# index sets... ARGV: record JSON, TTL, message id, body, max depth, metrics field ("" for
# none), history retention (0 for none), score, id.
_CREATE_ENQUEUED = (
    _ADD_TO_INDEX
    + """
local existing = redis.call("get", KEYS[1])
if existing then return {0, existing} end
local depth = tonumber(ARGV[5])
if depth > 0 and redis.call("llen", KEYS[2]) >= depth then return {-1, ""} end
redis.call("set", KEYS[1], ARGV[1], "EX", ARGV[2])
redis.call("hset", KEYS[3], ARGV[3], ARGV[4])
redis.call("rpush", KEYS[2], ARGV[3])
if ARGV[6] ~= "" then redis.call("hincrby", KEYS[4], ARGV[6], 1) end
if ARGV[7] ~= "0" then
  redis.call("hincrby", KEYS[5], "submitted", 1)
  redis.call("expire", KEYS[5], ARGV[7])
end
add_to_index(6, 8)
return {1, ""}
"""
)

# Errors meaning "Redis cannot take this write now": down, starting, full (noeviction), or a
# replica during failover. All of them must turn into 503s and retries, never 500s.
REDIS_DOWN = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


def connect(url: str, socket_timeout: float = 5.0) -> redis.Redis:
    """A client that fails fast, so producers can answer 503 instead of hanging."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=30,
    )


class JobStore:
    """Job records. ``patience_s`` > 0 (workers) waits out a Redis restart instead of failing
    the job's attempt; producers keep 0 so that they answer 503 at once."""

    def __init__(
        self, client: redis.Redis, namespace: str, ttl_seconds: int, patience_s: float = 0.0
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.patience_s = patience_s
        self._create = client.register_script(_CREATE)
        self._create_enqueued = client.register_script(_CREATE_ENQUEUED)

    def _patiently(self, operation: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.patience_s
        pause = 0.1
        while True:
            try:
                return operation()
            except REDIS_DOWN as exc:
                if time.monotonic() + pause > deadline:
                    raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc
                log.warning("Redis unavailable; retrying", extra={"error": str(exc)})
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def key(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}"

    def get(self, job_id: str) -> JobRecord | None:
        raw = self._patiently(lambda: self.client.get(self.key(job_id)))
        return None if raw is None else JobRecord.model_validate_json(raw)

    def _index(self, record: JobRecord) -> tuple[list[str], list[str | int]]:
        """The index KEYS (registry first) and ARGV (score, id) the scripts append."""
        keys = [
            job_index.registry_key(self.namespace),
            *job_index.index_keys(self.namespace, record),
        ]
        return keys, [job_index.created_ms(record.created_at), record.job_id]

    def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store ``record`` (and its index entries) unless the job exists; return the stored
        record and whether it's new. One round trip either way."""
        index_keys, index_args = self._index(record)
        keys = [self.key(record.job_id), *index_keys]
        args = [record.model_dump_json(), self.ttl_seconds, *index_args]
        outcome, existing = self._patiently(lambda: self._create(keys=keys, args=args))
        if outcome == 1:
            return record, True
        return JobRecord.model_validate_json(existing), False

    def create_enqueued(
        self,
        record: JobRecord,
        waiting: str,
        messages: str,
        message: tuple[str, str],
        depth: int,
        counter: tuple[str, str] = ("", ""),
        history: tuple[str, int] = ("", 0),
    ) -> tuple[JobRecord, bool]:
        """Store ``record`` and put its queue message on ``waiting``/``messages`` (Dramatiq's
        list and hash of a queue) in one atomic step: a record never exists without its
        message, and a submission costs one round trip. If the job exists, return it instead.
        With ``depth`` > 0, refuse a new job while the queue holds that many (``QueueFull``).
        ``counter`` (hash, field) is incremented when the job is new, and so is the
        ``submitted`` field of ``history`` (minute hash, retention; ``heavylift.state.history``)."""
        message_id, body = message
        index_keys, index_args = self._index(record)
        keys = [
            self.key(record.job_id),
            waiting,
            messages,
            counter[0] or waiting,
            history[0] or waiting,
            *index_keys,
        ]
        args: list[str | int] = [
            record.model_dump_json(),
            self.ttl_seconds,
            message_id,
            body,
            depth,
            counter[1],
            history[1],
            *index_args,
        ]
        outcome, existing = self._patiently(lambda: self._create_enqueued(keys=keys, args=args))
        if outcome == 1:
            return record, True
        if outcome == -1:
            raise QueueFull(f"{depth} jobs are already waiting on this queue")
        return JobRecord.model_validate_json(existing), False

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None]
    ) -> JobRecord | None:
        """Apply ``change`` atomically. ``change`` returns the new record, or None to leave it.
        The job moves between index sets (state, error code…) in the same MULTI."""
        return self._patiently(lambda: self._update(job_id, change))

    def _update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None]
    ) -> JobRecord | None:
        key = self.key(job_id)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        pipe.unwatch()
                        return None
                    old = JobRecord.model_validate_json(raw)
                    # ``change`` may edit its argument: it gets a fresh parse, never shared.
                    new = change(JobRecord.model_validate_json(raw))
                    if new is None:
                        pipe.unwatch()
                        return old
                    new.updated_at = utcnow()
                    pipe.multi()
                    pipe.set(key, new.model_dump_json(), ex=self.ttl_seconds)
                    job_index.stage_move(pipe, self.namespace, old, new)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue

    def delete(self, job_id: str) -> None:
        """Remove the record and its index entries together (the list never shows a ghost)."""
        self._patiently(lambda: self._delete(job_id))

    def _delete(self, job_id: str) -> None:
        key = self.key(job_id)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    pipe.multi()
                    pipe.delete(key)
                    if raw is not None:
                        job_index.stage_remove(
                            pipe, self.namespace, JobRecord.model_validate_json(raw)
                        )
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def ping(self) -> None:
        self._patiently(self.client.ping)
