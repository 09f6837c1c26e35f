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

from heavylift.config import Settings
from heavylift.errors import BrokerUnavailable, QueueFull
from heavylift.jobs.models import JobRecord, utcnow
from heavylift.state import index as job_index
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN, shared_client
from heavylift.state.scripts import script

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobStore:
    """Job records. ``patience_s`` > 0 (workers) waits out a Redis restart instead of failing
    the job's attempt; producers keep 0 so that they answer 503 at once."""

    def __init__(
        self, client: redis.Redis, namespace: str, ttl_seconds: int, patience_s: float = 0.0
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.layout = Layout(namespace)
        self.ttl_seconds = ttl_seconds
        self.patience_s = patience_s

    @classmethod
    def from_settings(cls, settings: Settings, *, patience_s: float = 0.0) -> JobStore:
        """The store on this process's shared Redis client. Workers pass their patience."""
        client = shared_client(settings)
        return cls(client, settings.namespace, settings.job_ttl_seconds, patience_s)

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
        return self.layout.job(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        raw = self._patiently(lambda: self.client.get(self.key(job_id)))
        return None if raw is None else JobRecord.model_validate_json(raw)

    def _index(self, record: JobRecord) -> tuple[list[str], list[str | int]]:
        """The index KEYS (registry first) and ARGV (score, id) the scripts append."""
        keys = [
            self.layout.job_index_registry,
            *job_index.index_keys(self.namespace, record),
        ]
        return keys, [job_index.created_ms(record.created_at), record.job_id]

    def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store ``record`` (and its index entries) unless the job exists; return the stored
        record and whether it's new. One round trip either way."""
        index_keys, index_args = self._index(record)
        keys = [self.key(record.job_id), *index_keys]
        args = [record.model_dump_json(), self.ttl_seconds, *index_args]
        create = script(self.client, "create_record")
        outcome, existing = self._patiently(lambda: create(keys=keys, args=args))
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
        create = script(self.client, "create_enqueued")
        outcome, existing = self._patiently(lambda: create(keys=keys, args=args))
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
