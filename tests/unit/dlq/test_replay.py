"""Replaying dead letters, against a real redis-server and Dramatiq's own Redis broker.

Users rely on: a replay puts a message back exactly once with fresh retries (even across a
crash or a second operator with a stale list), a letter that changed or a job that already
succeeded is left alone, dry runs and rate limits are honoured, nothing is replayed unasked,
and a worker that already took the replayed job keeps its state.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from heavylift.jobs.models import JobRecord, JobState
from heavylift.queue import dead_letters as dlq
from heavylift.state.store import JobStore
from tests.unit.dlq.helpers import (
    LAYOUT,
    NS,
    dead_ids,
    kill_job,
    listed,
    redis_id,
    store_record,
    waiting_ids,
)

# --- replay ----------------------------------------------------------------------------------


def test_replay_puts_the_message_back_once_with_fresh_retries(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "j1")
    message = kill_job(broker, "j1")
    rid = redis_id(message)
    redis_client.set(LAYOUT.deliveries(rid), 3)

    report = dlq.replay(redis_client, LAYOUT, store, listed(redis_client, store, all=True))

    assert report.replayed == [message.message_id] and report.skipped == []
    keys = LAYOUT.queue("image")
    assert waiting_ids(redis_client, "image") == [rid]
    assert dead_ids(redis_client, "image") == set()
    assert not redis_client.hexists(keys.dead_messages, rid)
    assert not redis_client.exists(LAYOUT.deliveries(rid))
    # Dramatiq's own fetch gets it: same message, retries reset, no leftovers.
    fetched = [json.loads(data) for data in broker.do_fetch("image", 10)]
    assert len(fetched) == 1
    assert fetched[0]["message_id"] == message.message_id
    assert fetched[0]["args"] == list(message.args)
    assert fetched[0]["options"]["retries"] == 0
    assert fetched[0]["options"]["redis_message_id"] == rid
    assert not {"traceback", "requeue_timestamp", "eta"} & set(fetched[0]["options"])
    record = store.get("j1")
    assert record is not None
    assert (record.state, record.replays, record.error, record.finished_at, record.progress) == (
        JobState.QUEUED,
        1,
        None,
        None,
        0.0,
    )
    assert len(record.errors) == 2  # the history stays


def test_replaying_a_letter_someone_else_moved_is_skipped(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    kill_job(broker, "j1")
    letters = listed(redis_client, store, all=True)
    assert dlq.replay(redis_client, LAYOUT, store, letters).replayed == [letters[0].id]

    again = dlq.replay(redis_client, LAYOUT, store, letters)  # a second operator, stale list

    assert again.replayed == []
    assert [(s.id, s.reason) for s in again.skipped] == [
        (letters[0].id, "already replayed or purged")
    ]
    assert len(waiting_ids(redis_client, "image")) == 1


def test_a_letter_that_changed_since_listed_is_left_alone(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    message = kill_job(broker, "j1")
    letters = listed(redis_client, store, all=True)
    rewritten = json.loads(letters[0].raw) | {"args": [{"job_id": "other"}]}
    redis_client.hset(LAYOUT.queue("image").dead_messages, redis_id(message), json.dumps(rewritten))

    report = dlq.replay(redis_client, LAYOUT, store, letters)

    assert [s.reason for s in report.skipped] == ["changed since listed"]
    assert dead_ids(redis_client, "image") == {redis_id(message)}
    assert waiting_ids(redis_client, "image") == []


def test_a_crash_mid_replay_neither_duplicates_nor_drops(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    messages = [kill_job(broker, f"j{i}") for i in range(5)]
    seen: list[str] = []

    def crash_after_two(letter: dlq.DeadLetter, outcome: dlq.Outcome) -> None:
        seen.append(letter.id)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C, or the process dying

    with pytest.raises(KeyboardInterrupt):
        dlq.replay(
            redis_client,
            LAYOUT,
            store,
            listed(redis_client, store, all=True),
            on_each=crash_after_two,
        )

    assert len(waiting_ids(redis_client, "image")) == 2
    assert len(dead_ids(redis_client, "image")) == 3
    rest = dlq.replay(redis_client, LAYOUT, store, listed(redis_client, store, all=True))
    assert len(rest.replayed) == 3
    queued = waiting_ids(redis_client, "image")
    assert sorted(queued) == sorted(redis_id(m) for m in messages)  # each exactly once
    assert dead_ids(redis_client, "image") == set()


def test_dry_run_changes_nothing(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "j1")
    store_record(store, "done", state=JobState.SUCCEEDED)
    kill_job(broker, "j1")
    kill_job(broker, "done")
    before = store.get("j1")

    report = dlq.replay(
        redis_client, LAYOUT, store, listed(redis_client, store, all=True), dry_run=True
    )

    assert report.dry_run and len(report.replayed) == 1
    assert [s.reason for s in report.skipped] == ["job already succeeded"]
    assert len(dead_ids(redis_client, "image")) == 2
    assert waiting_ids(redis_client, "image") == []
    assert store.get("j1") == before


def test_rate_limit_spaces_the_moves(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    for i in range(5):
        kill_job(broker, f"j{i}")
    letters = listed(redis_client, store, all=True)
    moments: list[float] = []

    started = time.monotonic()
    report = dlq.replay(
        redis_client,
        LAYOUT,
        store,
        letters,
        rate_per_s=20,
        on_each=lambda *_: moments.append(time.monotonic()),
    )

    assert len(report.replayed) == 5
    assert time.monotonic() - started >= 0.18
    assert all(b - a >= 0.03 for a, b in zip(moments, moments[1:], strict=False))


def test_succeeded_jobs_are_not_replayed(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "done", state=JobState.SUCCEEDED, errors=[])
    message = kill_job(broker, "done")

    report = dlq.replay(redis_client, LAYOUT, store, listed(redis_client, store, job="done"))

    assert report.replayed == []
    assert [(s.id, s.reason) for s in report.skipped] == [
        (message.message_id, "job already succeeded")
    ]
    assert dead_ids(redis_client, "image") == {redis_id(message)}
    record = store.get("done")
    assert record is not None and record.state is JobState.SUCCEEDED and record.replays == 0


def test_an_empty_selector_is_refused(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    kill_job(broker, "j1")
    with pytest.raises(dlq.EmptySelector):
        dlq.select_dead_letters(redis_client, LAYOUT, store, dlq.Selector())
    with pytest.raises(dlq.EmptySelector):
        dlq.select_dead_letters(redis_client, LAYOUT, store, dlq.Selector(ids=[], all=False))
    assert (
        len(dlq.select_dead_letters(redis_client, LAYOUT, store, dlq.Selector(queue="image"))) == 1
    )
    assert dead_ids(redis_client, "image") != set()


def test_missing_names_the_ids_not_found(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    message = kill_job(broker, "j1")
    selector = dlq.Selector(ids=[message.message_id, "nope"])
    assert selector.missing(listed(redis_client, store, ids=selector.ids)) == ["nope"]


def test_a_worker_that_already_took_the_job_keeps_its_state(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    """A worker may fetch the replayed message before the record is updated: never undo it."""
    store_record(store, "j1")
    kill_job(broker, "j1")

    class RacedStore(JobStore):
        def update(self, job_id: str, change: Any) -> JobRecord | None:
            def worker_started(record: JobRecord) -> JobRecord:
                record.state, record.attempts = JobState.RUNNING, record.attempts + 1
                return record

            super().update(job_id, worker_started)
            return super().update(job_id, change)

    raced = RacedStore(redis_client, NS, 3600)
    dlq.replay(redis_client, LAYOUT, raced, listed(redis_client, store, all=True))

    record = store.get("j1")
    assert record is not None
    assert (record.state, record.replays, record.attempts) == (JobState.RUNNING, 1, 3)
