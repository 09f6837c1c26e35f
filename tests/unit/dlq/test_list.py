"""Listing, inspecting and purging dead letters, against a real redis-server.

Letters are made the way Dramatiq makes them (see ``tests.unit.dlq.helpers``), so these tests
fail if Heavylift and Dramatiq ever disagree on the key layout. Users rely on: every dead
letter is listed (even an unreadable one) and can be filtered, its history is shown, a purge
removes only the letters named and keeps the job's history, and an unreachable Redis is
``BrokerUnavailable``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from heavylift.errors import BrokerUnavailable
from heavylift.jobs.models import JobState
from heavylift.queue import dead_letters as dlq
from heavylift.state.store import JobStore
from tests.unit.dlq.helpers import (
    LAYOUT,
    NS,
    attempt,
    backdate,
    dead_ids,
    kill,
    kill_job,
    listed,
    redis_id,
    store_record,
)

# --- listing -------------------------------------------------------------------------------


def test_list_shows_every_letter_with_its_job_error(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "j1", errors=[attempt(1), attempt(2, "timeout", "ran past 3 h")])
    first = kill_job(broker, "j1")
    second = kill(broker, "video", [{"not": "a job"}], retries=0)
    third = kill_job(broker, "j3", "audio", retries=2)  # no record (expired)

    letters = dlq.list_dead_letters(redis_client, LAYOUT, store)

    assert [letter.id for letter in letters] == [
        first.message_id,
        second.message_id,
        third.message_id,
    ]
    one, two, three = letters
    assert (one.queue, one.actor, one.job_id, one.retries) == ("image", "process_image", "j1", 5)
    assert (one.error_code, one.error_message) == ("timeout", "ran past 3 h")
    assert one.redis_message_id == redis_id(first)
    assert abs((one.dead_at - datetime.now(UTC)).total_seconds()) < 5
    assert one.message["args"][0]["job_id"] == "j1"
    assert (two.queue, two.job_id, two.error_code) == ("video", None, "invalid_message")
    assert (three.queue, three.retries, three.error_code) == ("audio", 2, None)


def test_list_filters(redis_client: redis.Redis, broker: RedisBroker, store: JobStore) -> None:
    store_record(store, "old", errors=[attempt(1, "timeout", "ran past 3 h")])
    store_record(store, "new", errors=[attempt(1, "storage_unavailable", "S3 said 503")])
    old = kill_job(broker, "old")
    backdate(redis_client, "image", old, hours=3)
    new = kill_job(broker, "new")
    video = kill_job(broker, "vid", "video")
    odd = kill(broker, "image", [{"x": 1}], actor="legacy_actor")

    def ids(**selector: Any) -> set[str]:
        return {letter.id for letter in listed(redis_client, store, **selector)}

    assert ids(queue="video") == {video.message_id}
    assert ids(actor="legacy_actor") == {odd.message_id}
    assert ids(error="timeout") == {old.message_id}
    assert ids(error="said 503") == {new.message_id}  # text in the message
    assert ids(error="invalid_message") == {odd.message_id}
    assert ids(job="new") == {new.message_id}
    assert ids(since=datetime.now(UTC) - timedelta(hours=1)) == {
        new.message_id,
        video.message_id,
        odd.message_id,
    }
    assert ids(queue="image", since=datetime.now(UTC) - timedelta(hours=1)) == {
        new.message_id,
        odd.message_id,
    }
    assert ids(ids=[redis_id(new), video.message_id]) == {new.message_id, video.message_id}
    assert ids(queue="nowhere") == set()


def test_undecodable_entries_are_listed_not_fatal(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    good = kill_job(broker, "j1")
    keys = LAYOUT.queue("image")
    redis_client.zadd(keys.dead, {"garbage": 1, "orphan": 2})
    redis_client.hset(keys.dead_messages, "garbage", b"\xff{not json")  # "orphan" has no data

    letters = dlq.list_dead_letters(redis_client, LAYOUT, store)

    by_id = {letter.id: letter for letter in letters}
    assert set(by_id) == {good.message_id, "garbage", "orphan"}
    assert by_id["garbage"].actor == "?" and not by_id["garbage"].decodable
    assert by_id["garbage"].error_code == "invalid_message"
    assert by_id["orphan"].actor == "?"
    report = dlq.replay(redis_client, LAYOUT, store, [by_id["garbage"]])
    assert report.replayed == [] and report.skipped[0].reason == "message cannot be decoded"
    assert dlq.purge(redis_client, LAYOUT, store, [by_id["garbage"], by_id["orphan"]]).purged == [
        "garbage",
        "orphan",
    ]
    assert dead_ids(redis_client, "image") == {redis_id(good)}


def test_get_dead_letter_has_every_attempt_and_traceback(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(
        store, "j1", errors=[attempt(1), attempt(2), attempt(3, "timeout", "ran past 3 h")]
    )
    message = kill_job(broker, "j1")

    for key in (message.message_id, redis_id(message)):
        detail = dlq.get_dead_letter(redis_client, LAYOUT, store, key)
        assert detail is not None and detail.letter.id == message.message_id
        assert detail.record is not None
        assert [(e.attempt, e.code) for e in detail.record.errors] == [
            (1, "storage_unavailable"),
            (2, "storage_unavailable"),
            (3, "timeout"),
        ]
        assert "timeout: ran past 3 h" in (detail.record.errors[2].traceback or "")
    assert dlq.get_dead_letter(redis_client, LAYOUT, store, "nope") is None


# --- purge -----------------------------------------------------------------------------------


def test_purge_deletes_letters_and_keeps_job_history(
    redis_client: redis.Redis, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "j1")
    gone = kill_job(broker, "j1")
    kept = kill_job(broker, "j2", "video")
    redis_client.set(LAYOUT.deliveries(redis_id(gone)), 2)
    letters = listed(redis_client, store, queue="image")

    report = dlq.purge(redis_client, LAYOUT, store, letters)

    assert report.purged == [gone.message_id]
    assert dead_ids(redis_client, "image") == set()
    assert not redis_client.hexists(LAYOUT.queue("image").dead_messages, redis_id(gone))
    assert not redis_client.exists(LAYOUT.deliveries(redis_id(gone)))
    assert dead_ids(redis_client, "video") == {redis_id(kept)}
    record = store.get("j1")
    assert record is not None and record.state is JobState.DEAD and len(record.errors) == 2
    assert [s.reason for s in dlq.purge(redis_client, LAYOUT, store, letters).skipped] == [
        "already replayed or purged"
    ]


def test_redis_down_is_broker_unavailable(dead_redis_url: str) -> None:
    client = redis.Redis.from_url(dead_redis_url, socket_connect_timeout=1)
    with pytest.raises(BrokerUnavailable):
        dlq.list_dead_letters(client, LAYOUT, JobStore(client, NS, 3600))
