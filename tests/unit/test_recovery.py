"""The Redis-side building blocks of failure handling, against a real redis-server:
retries parked in Redis, dead workers' messages requeued, deliveries counted, patience."""

from __future__ import annotations

import json
import random
import time
from typing import cast

import pytest
import redis

from heavylift.errors import BrokerUnavailable
from heavylift.queue.deliveries import finish_delivery, start_delivery
from heavylift.queue.recovery import heartbeat, reap_dead_workers, requeue_worker
from heavylift.queue.retries import backoff_ms, promote_due, schedule_retry
from heavylift.state.keys import Layout
from heavylift.state.redis import connect
from heavylift.state.store import JobStore
from tests.unit.conftest import text

LAYOUT = Layout("heavylift")
IMAGE = LAYOUT.queue("image")


def fetched(client: redis.Redis, worker: str, redis_id: str, queue: str = "image") -> dict:
    """A message as Dramatiq leaves it once ``worker`` fetched it: body in the hash, id in
    the worker's ack set, not in the waiting list."""
    keys = LAYOUT.queue(queue)
    message = {
        "queue_name": queue,
        "actor_name": f"process_{queue}",
        "args": [{"job_id": "j1"}],
        "kwargs": {},
        "options": {"redis_message_id": redis_id, "retries": 0, "traceback": "boom"},
        "message_id": f"m-{redis_id}",
        "message_timestamp": 1,
    }
    client.hset(keys.messages, redis_id, json.dumps(message))
    client.sadd(keys.acks(worker), redis_id)
    return message


def waiting(client: redis.Redis, queue: str = "image") -> list[str]:
    return [text(raw) for raw in client.lrange(LAYOUT.queue(queue).waiting, 0, -1)]


def test_backoff_grows_exponentially_within_jitter_and_caps() -> None:
    rng = random.Random(7)
    for retries, ceiling in [(0, 1000), (1, 2000), (3, 8000), (20, 60_000)]:
        delays = [backoff_ms(retries, 1000, 60_000, rng) for _ in range(200)]
        assert ceiling // 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 50  # spread out, so failed jobs do not come back together


def test_a_retry_replaces_the_failed_delivery_atomically(redis_client: redis.Redis) -> None:
    message = fetched(redis_client, "w1", "r1")
    assert schedule_retry(
        redis_client, LAYOUT, worker_id="w1", message=message, retries=1, delay_ms=60_000
    )
    assert not redis_client.sismember(IMAGE.acks("w1"), "r1")
    assert not redis_client.hexists(IMAGE.messages, "r1")
    scheduled = redis_client.zrange(LAYOUT.scheduled, 0, -1, withscores=True)
    [(raw_id, due)] = cast("list[tuple[bytes, float]]", scheduled)
    retry_id = text(raw_id)
    assert float(due) > time.time() * 1000 + 55_000
    body = json.loads(text(redis_client.hget(LAYOUT.scheduled_messages, retry_id)))
    assert body["options"]["retries"] == 1
    assert body["options"]["redis_message_id"] == retry_id != "r1"
    assert "traceback" not in body["options"] and body["args"] == message["args"]


def test_no_retry_is_scheduled_for_a_message_recovery_already_requeued(
    redis_client: redis.Redis,
) -> None:
    message = fetched(redis_client, "w1", "r1")
    requeue_worker(redis_client, LAYOUT, "w1")  # w1 was presumed dead meanwhile
    assert not schedule_retry(
        redis_client, LAYOUT, worker_id="w1", message=message, retries=1, delay_ms=0
    )
    assert redis_client.zcard(LAYOUT.scheduled) == 0 and waiting(redis_client) == ["r1"]


def test_only_due_retries_are_promoted_each_to_its_own_queue(redis_client: redis.Redis) -> None:
    image = fetched(redis_client, "w1", "r1")
    audio = fetched(redis_client, "w1", "r2", queue="audio")
    later = fetched(redis_client, "w1", "r3")
    for message, delay in [(image, 0), (audio, 0), (later, 60_000)]:
        schedule_retry(
            redis_client, LAYOUT, worker_id="w1", message=message, retries=1, delay_ms=delay
        )
    assert promote_due(redis_client, LAYOUT) == 2
    [image_retry] = waiting(redis_client)
    [audio_retry] = waiting(redis_client, "audio")
    assert json.loads(text(redis_client.hget(IMAGE.messages, image_retry)))["message_id"] == "m-r1"
    assert redis_client.hexists(LAYOUT.queue("audio").messages, audio_retry)
    assert redis_client.zcard(LAYOUT.scheduled) == 1  # the one due in a minute waits
    assert promote_due(redis_client, LAYOUT) == 0


def test_a_dead_workers_unfinished_messages_go_back_to_their_queues(
    redis_client: redis.Redis,
) -> None:
    fetched(redis_client, "dead", "r1")
    fetched(redis_client, "dead", "r2", queue="video")
    redis_client.sadd(IMAGE.acks("dead"), "acked-meanwhile")  # no body: must not come back
    fetched(redis_client, "alive", "r3")
    heartbeat(redis_client, LAYOUT, "dead")
    heartbeat(redis_client, LAYOUT, "alive")

    assert requeue_worker(redis_client, LAYOUT, "dead") == 2
    assert waiting(redis_client) == ["r1"] and waiting(redis_client, "video") == ["r2"]
    assert not redis_client.exists(IMAGE.acks("dead"))
    assert redis_client.zscore(LAYOUT.heartbeats, "dead") is None
    assert redis_client.sismember(IMAGE.acks("alive"), "r3")  # untouched


def test_only_workers_silent_past_the_timeout_are_reaped(redis_client: redis.Redis) -> None:
    fetched(redis_client, "silent", "r1")
    fetched(redis_client, "fresh", "r2")
    redis_client.zadd(LAYOUT.heartbeats, {"silent": int(time.time() * 1000) - 11_000})
    heartbeat(redis_client, LAYOUT, "fresh")
    assert reap_dead_workers(redis_client, LAYOUT, timeout_s=10) == {"silent": 1}
    assert waiting(redis_client) == ["r1"]
    assert redis_client.sismember(IMAGE.acks("fresh"), "r2")


def test_deliveries_count_up_until_one_finishes(redis_client: redis.Redis) -> None:
    assert [start_delivery(redis_client, LAYOUT, "r1") for _ in range(3)] == [1, 2, 3]
    assert redis_client.ttl(LAYOUT.deliveries("r1")) > 0  # never leaks forever
    finish_delivery(redis_client, LAYOUT, "r1")
    assert start_delivery(redis_client, LAYOUT, "r1") == 1


def test_a_patient_store_waits_out_an_outage_but_not_forever(dead_redis_url: str) -> None:
    impatient = JobStore(connect(dead_redis_url, 0.2), "heavylift", 60)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        impatient.get("j1")
    assert time.monotonic() - started < 0.5  # producers answer 503 at once

    patient = JobStore(connect(dead_redis_url, 0.2), "heavylift", 60, patience_s=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        patient.get("j1")
    assert 0.7 < time.monotonic() - started < 3
