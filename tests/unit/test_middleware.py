"""Heavylift's Dramatiq middleware in a real in-process Worker over a real redis-server:
typed errors decide between retry and dead letter, retries wait in Redis, poison stops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import pytest
import redis

from actors.broker import build_broker
from heavylift.config import Settings
from heavylift.errors import CorruptMedia, PermanentError, StorageUnavailable
from heavylift.jobs.models import AttemptError, JobOrigin, JobRecord, JobState, S3Location
from heavylift.jobs.spec import PipelineSpec
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore

LAYOUT = Layout("heavylift")
QUEUE = LAYOUT.queue("tests")


@pytest.fixture
def settings(redis_url: str, redis_client: redis.Redis) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        redis_url=redis_url,
        max_retries=2,
        min_backoff_ms=20,
        max_backoff_ms=40,
        heartbeat_timeout_s=1.0,
        max_deliveries=2,
    )


@pytest.fixture
def broker(settings: Settings) -> Iterator[dramatiq.Broker]:
    broker = build_broker(settings, worker_id="unit-worker")
    yield broker
    broker.close()


def run_worker(broker: dramatiq.Broker, until: Callable[[], bool], timeout: float = 10) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop(timeout=5000)
    assert until(), "condition not reached in time"


@dataclass
class Declared:
    """A test actor and the calls it received (their 1-based numbers)."""

    actor: dramatiq.Actor[Any, Any]
    calls: list[int]

    def send(self, *args: Any) -> dramatiq.Message[Any]:
        return self.actor.send(*args)


def declare(broker: dramatiq.Broker, behaviour: Callable[[int], None]) -> Declared:
    calls: list[int] = []

    def flaky(job: dict[str, Any]) -> None:
        calls.append(len(calls) + 1)
        behaviour(len(calls))

    actor = dramatiq.actor(
        broker=broker,
        actor_name="flaky",
        queue_name="tests",
        throws=(PermanentError,),
    )(flaky)
    return Declared(actor, calls)


def dead_letters(client: redis.Redis) -> int:
    return int(client.zcard(QUEUE.dead))


def test_a_transient_error_is_retried_through_redis_then_succeeds(
    broker: dramatiq.Broker, redis_client: redis.Redis
) -> None:
    def fail_once(call: int) -> None:
        if call == 1:
            raise StorageUnavailable("S3 answered 503")

    actor = declare(broker, fail_once)
    actor.send({"job_id": "j1"})
    run_worker(broker, lambda: len(actor.calls) == 2 and redis_client.hlen(QUEUE.messages) == 0)
    assert dead_letters(redis_client) == 0 and redis_client.zcard(LAYOUT.scheduled) == 0
    assert not redis_client.exists("heavylift:tests.DQ.msgs")  # never held in worker memory


def test_a_permanent_error_is_dead_lettered_at_once(
    broker: dramatiq.Broker, redis_client: redis.Redis
) -> None:
    def corrupt(call: int) -> None:
        raise CorruptMedia("not a JPEG after all")

    actor = declare(broker, corrupt)
    actor.send({"job_id": "j1"})
    run_worker(broker, lambda: dead_letters(redis_client) == 1)
    assert actor.calls == [1]  # never retried
    assert redis_client.zcard(LAYOUT.scheduled) == 0


def test_transient_errors_stop_after_max_retries_in_the_dead_letters(
    broker: dramatiq.Broker, redis_client: redis.Redis
) -> None:
    def always_down(call: int) -> None:
        raise StorageUnavailable("still down")

    actor = declare(broker, always_down)
    actor.send({"job_id": "j1"})
    run_worker(broker, lambda: dead_letters(redis_client) == 1)
    assert actor.calls == [1, 2, 3]  # the first try and max_retries=2 retries
    [raw] = redis_client.hvals(QUEUE.dead_messages)
    assert b'"retries":2' in raw


def test_a_message_whose_deliveries_kill_the_worker_is_dead_lettered(
    broker: dramatiq.Broker, settings: Settings, redis_client: redis.Redis
) -> None:
    store = JobStore(redis_client, "heavylift", 600)
    source = S3Location(bucket="heavylift-uploads", key="crash.jpg")
    store.create(
        JobRecord(
            job_id="jpoison",
            origin=JobOrigin.WEBHOOK,
            source=source,
            spec=PipelineSpec.default((256,), 80),
            queue="tests",
            state=JobState.RUNNING,
            attempts=2,
        )
    )
    actor = declare(broker, lambda call: None)
    message = actor.send(
        {
            "job_id": "jpoison",
            "source": source.model_dump(),
            "spec": PipelineSpec.default((256,), 80).model_dump(mode="json"),
            "origin": "webhook",
        }
    )
    # Two deliveries already started and never finished: their processes died.
    redis_id = message.options["redis_message_id"]
    redis_client.set(LAYOUT.deliveries(redis_id), settings.max_deliveries)

    run_worker(broker, lambda: dead_letters(redis_client) == 1)
    assert actor.calls == []  # the third delivery was not run
    record = store.get("jpoison")
    assert record is not None and record.state is JobState.DEAD
    assert isinstance(record.error, AttemptError) and record.error.code == "poison_message"
    assert [e.code for e in record.errors] == ["worker_lost", "poison_message"]
    assert not redis_client.exists(LAYOUT.deliveries(redis_id))


def test_an_unexpected_error_is_recorded_and_counted_as_one_code(
    broker: dramatiq.Broker, redis_client: redis.Redis
) -> None:
    """The job record (the runner) and the counters (the queue) name an exception nobody
    expected the same way; they used to disagree (transient_error vs internal_error)."""
    from heavylift.jobs.lifecycle import attempt_error
    from heavylift.state.counters import field, read_counters

    def bug(call: int) -> None:
        raise KeyError("a bug")

    actor = declare(broker, bug)
    actor.send({"job_id": "j1"})
    run_worker(broker, lambda: dead_letters(redis_client) == 1)
    assert actor.calls == [1, 2, 3]  # retried: it may be load-related
    counted = read_counters(redis_client, "heavylift")
    assert counted[field("dead_letter_codes_total", code="internal_error")] == 1
    recorded = attempt_error(KeyError("a bug"), attempt=1)
    assert (recorded.code, recorded.transient) == ("internal_error", True)


def test_the_actor_and_the_queue_agree_on_the_last_attempt(broker: dramatiq.Broker) -> None:
    from actors.middleware import retry_policy

    actor = declare(broker, lambda call: None)
    policy = retry_policy(broker)
    for retries, final in [(0, False), (1, False), (2, True)]:  # max_retries=2
        message = actor.actor.message({"job_id": "j1"})
        message.options["retries"] = retries
        assert policy.is_final_attempt(broker, message) is final
