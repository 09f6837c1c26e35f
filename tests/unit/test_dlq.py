"""Dead letters in the core, against a real redis-server and Dramatiq's own Redis broker.

Letters are made the way Dramatiq makes them (enqueue, fetch, nack into ``<queue>.XQ``), so
these tests fail if Heavylift and Dramatiq ever disagree on the key layout. Users rely on:
every dead letter is listed (even an unreadable one), its history is shown, a replay puts a
message back exactly once with fresh retries, and nothing is replayed or purged unasked.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from heavylift import dlq
from heavylift.broker_layout import Layout
from heavylift.errors import BrokerUnavailable
from heavylift.jobstore import JobStore
from heavylift.models import AttemptError, JobMessage, JobOrigin, JobRecord, JobState, S3Location
from heavylift.spec import PipelineSpec

NS = "heavylift"
LAYOUT = Layout(NS)
SPEC = PipelineSpec.default((256, 1024), 80)
ACTORS = {"image": "process_image", "video": "process_video", "audio": "process_audio"}


def job_message(job_id: str) -> JobMessage:
    source = S3Location(bucket="uploads", key=f"photos/{job_id}.jpg", etag="abc")
    return JobMessage(job_id=job_id, source=source, spec=SPEC, origin=JobOrigin.S3_EVENT)


def attempt(
    number: int, code: str = "storage_unavailable", message: str = "S3 said 503"
) -> AttemptError:
    return AttemptError(
        attempt=number,
        code=code,
        message=message,
        transient=True,
        traceback=f"Traceback (most recent call last):\n  attempt {number}\n{code}: {message}\n",
    )


def store_record(
    store: JobStore,
    job_id: str,
    *,
    state: JobState = JobState.DEAD,
    errors: list[AttemptError] | None = None,
    queue: str = "image",
) -> JobRecord:
    errors = [attempt(1), attempt(2)] if errors is None else errors
    message = job_message(job_id)
    record = JobRecord(
        job_id=job_id,
        origin=message.origin,
        source=message.source,
        spec=message.spec,
        queue=queue,
        state=state,
        attempts=len(errors),
        errors=errors,
        error=errors[-1] if errors else None,
        finished_at=datetime.now(UTC),
        progress=0.4,
    )
    store.create(record)
    return record


def kill(
    broker: RedisBroker,
    queue: str,
    args: list[Any],
    *,
    retries: int = 5,
    actor: str | None = None,
) -> dramatiq.Message[Any]:
    """Enqueue a message, fetch it as a worker would, and nack it into the dead letters."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue,
        actor_name=actor or ACTORS[queue],
        args=tuple(args),
        kwargs={},
        options={"retries": retries, "traceback": "old traceback", "requeue_timestamp": 1},
    )
    enqueued = broker.enqueue(message)
    fetched = broker.do_fetch(queue, 1)
    assert len(fetched) == 1
    broker.do_nack(queue, enqueued.options["redis_message_id"])
    time.sleep(0.002)  # a distinct dead-letter time (ms) for each, so "oldest first" is defined
    return enqueued


def kill_job(
    broker: RedisBroker, job_id: str, queue: str = "image", **kw: Any
) -> dramatiq.Message[Any]:
    return kill(broker, queue, [job_message(job_id).model_dump(mode="json")], **kw)


def redis_id(message: dramatiq.Message[Any]) -> str:
    return str(message.options["redis_message_id"])


def backdate(client: redis.Redis, queue: str, message: dramatiq.Message[Any], hours: float) -> None:
    when = (datetime.now(UTC) - timedelta(hours=hours)).timestamp() * 1000
    client.zadd(LAYOUT.queue(queue).dead, {redis_id(message): when}, xx=True)


def waiting_ids(client: redis.Redis, queue: str) -> list[str]:
    members: list[bytes] = client.lrange(LAYOUT.queue(queue).waiting, 0, -1)  # type: ignore[assignment]
    return [m.decode() for m in members]


def dead_ids(client: redis.Redis, queue: str) -> set[str]:
    members: list[bytes] = client.zrange(LAYOUT.queue(queue).dead, 0, -1)  # type: ignore[assignment]
    return {m.decode() for m in members}


@pytest.fixture
def broker(redis_client: redis.Redis) -> RedisBroker:
    return RedisBroker(client=redis_client, namespace=NS, maintenance_chance=0)


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client, NS, 3600)


def listed(client: redis.Redis, store: JobStore, **selector: Any) -> list[dlq.DeadLetter]:
    return dlq.list_dead_letters(client, LAYOUT, store, dlq.Selector(**selector))


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
