"""Job identity, deduplication and the hand-off to the queue, against a real redis-server.

Users rely on: a duplicate S3 event never makes a second job, a retried webhook with the
same key gets the same job, nothing is acknowledged that was not enqueued, and concurrent
writers never lose each other's updates.
"""

from __future__ import annotations

import re
import threading

import pytest
import redis

from heavylift.errors import BrokerUnavailable, QueueFull
from heavylift.jobs.identity import s3_job_id, webhook_job_id
from heavylift.jobs.models import (
    AttemptError,
    JobMessage,
    JobOrigin,
    JobRecord,
    JobState,
    S3Location,
)
from heavylift.jobs.spec import PipelineSpec
from heavylift.jobs.submission import submit
from heavylift.jobs.upload_events import object_created_events
from heavylift.queue import wire
from heavylift.state.redis import connect
from heavylift.state.store import JobStore
from tests.unit.conftest import ENVELOPES, notification, s3_record, text

SPEC = PipelineSpec.default((256, 1024), 80)
TTL = 3600
JOB_ID = re.compile(r"^j[0-9a-f]{31}$")


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client, "unit", TTL)


def make_message(key: str = "photos/cat.jpg", job_id: str | None = None) -> JobMessage:
    source = S3Location(bucket="uploads", key=key, etag="abc")
    return JobMessage(
        job_id=job_id or s3_job_id(source, SPEC),
        source=source,
        spec=SPEC,
        origin=JobOrigin.S3_EVENT,
    )


def draft(message: JobMessage) -> JobRecord:
    return JobRecord(
        job_id=message.job_id,
        origin=message.origin,
        source=message.source,
        spec=message.spec,
        queue="image",
    )


# --- identity ---------------------------------------------------------------------------


def test_s3_job_id_is_the_same_in_every_envelope() -> None:
    """At-least-once delivery in any envelope must map one object version to one job."""
    ids = set()
    for _, build in ENVELOPES.values():
        (event,) = object_created_events(build("my+photo%2B1.jpg", "my photo+1.jpg"))
        ids.add(s3_job_id(event.location, SPEC))
    assert len(ids) == 1
    assert JOB_ID.match(ids.pop())


def test_s3_job_id_ignores_etag_quoting() -> None:
    """A quoted ETag (header style) and a bare one name the same object version."""
    ids = set()
    for etag in ('"abc"', "abc"):
        (event,) = object_created_events(
            notification(s3_record("k.jpg", etag=etag, version_id=None))
        )
        ids.add(s3_job_id(event.location, SPEC))
    assert len(ids) == 1


BASE = S3Location(bucket="uploads", key="a.jpg", etag="e1")
VERSIONED = S3Location(bucket="uploads", key="a.jpg", version_id="v1", etag="e1")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((BASE, SPEC), (BASE.model_copy(update={"etag": "e2"}), SPEC), id="etag"),
        pytest.param(
            (VERSIONED, SPEC),
            (VERSIONED.model_copy(update={"version_id": "v2"}), SPEC),
            id="version",
        ),
        pytest.param((BASE, SPEC), (VERSIONED, SPEC), id="version-appears"),
        pytest.param((BASE, SPEC), (BASE.model_copy(update={"key": "b.jpg"}), SPEC), id="key"),
        pytest.param(
            (BASE, SPEC), (BASE.model_copy(update={"bucket": "other"}), SPEC), id="bucket"
        ),
        pytest.param((BASE, SPEC), (BASE, PipelineSpec.default((256,), 80)), id="widths"),
        pytest.param((BASE, SPEC), (BASE, PipelineSpec.default((256, 1024), 90)), id="quality"),
    ],
)
def test_s3_job_id_changes_with_the_object_or_the_work(
    first: tuple[S3Location, PipelineSpec], second: tuple[S3Location, PipelineSpec]
) -> None:
    """A new version, another object or other work is a new job, never a 'duplicate'."""
    assert s3_job_id(*first) != s3_job_id(*second)
    assert s3_job_id(*first) == s3_job_id(*first)


def test_webhook_job_id() -> None:
    """One idempotency key, one job; no key, a fresh job every time."""
    assert webhook_job_id("order-42") == webhook_job_id("order-42")
    assert webhook_job_id("order-42") != webhook_job_id("order-43")
    fresh = {webhook_job_id(None) for _ in range(50)}
    assert len(fresh) == 50
    assert all(JOB_ID.match(job_id) for job_id in fresh | {webhook_job_id("order-42")})


# --- submit -----------------------------------------------------------------------------


def waiting(store: JobStore, queue: str = "image") -> list[str]:
    """Message ids on Dramatiq's list for ``queue``, each with its body in the queue's hash."""
    client = store.client
    ids = [text(raw) for raw in client.lrange(f"{store.namespace}:{queue}", 0, -1)]
    assert all(client.hexists(f"{store.namespace}:{queue}.msgs", i) for i in ids)
    return ids


def test_new_job_is_created_with_its_message_in_one_step(store: JobStore) -> None:
    message = make_message()
    submission = submit(message, store)
    assert submission.created
    assert submission.job_id == message.job_id
    [queued] = waiting(store)
    body = wire.decode(store.client.hget(f"{store.namespace}:image.msgs", queued))
    assert body is not None and JobMessage.model_validate(body["args"][0]) == message
    stored = store.get(message.job_id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    assert stored.enqueued_at is not None
    assert submission.record.enqueued_at == stored.enqueued_at


def test_duplicate_is_not_enqueued_again(store: JobStore) -> None:
    """A redelivered S3 event must not put a second message on the queue."""
    message = make_message()
    first = submit(message, store)
    second = submit(message, store)
    assert not second.created
    assert second.job_id == first.job_id
    assert second.record.enqueued_at == first.record.enqueued_at
    assert len(waiting(store)) == 1


def test_a_full_queue_refuses_new_jobs_but_answers_duplicates(store: JobStore) -> None:
    first = make_message("photos/1.jpg", job_id="j1")
    submit(first, store, max_depth=1)
    with pytest.raises(QueueFull):
        submit(make_message("photos/2.jpg", job_id="j2"), store, max_depth=1)
    assert store.get("j2") is None and len(waiting(store)) == 1
    again = submit(first, store, max_depth=1)  # a retry of an accepted job
    assert not again.created
    audio = make_message("talks/1.mp3", job_id="j3")  # other queues have their own depth
    assert submit(audio, store, max_depth=1).created


def test_records_expire(store: JobStore, redis_client: redis.Redis) -> None:
    """Redis runs with noeviction: a record without a TTL would live (and cost) forever."""
    message = make_message()
    submit(message, store)
    assert 0 < redis_client.ttl(store.key(message.job_id)) <= TTL


# --- the store --------------------------------------------------------------------------


def test_update_is_atomic_under_concurrency(store: JobStore) -> None:
    """Workers and producers update one record at once; no update may be lost."""
    message = make_message()
    store.create(draft(message))
    threads, rounds = 8, 25
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append_errors(worker: int) -> None:
        try:
            start.wait()
            for n in range(rounds):

                def change(record: JobRecord, n: int = n) -> JobRecord:
                    record.errors.append(
                        AttemptError(attempt=n, code=f"w{worker}", message="x", transient=True)
                    )
                    return record

                store.update(message.job_id, change)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    pool = [threading.Thread(target=append_errors, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not failures
    stored = store.get(message.job_id)
    assert stored is not None
    assert len(stored.errors) == threads * rounds
    for worker in range(threads):
        mine = [e.attempt for e in stored.errors if e.code == f"w{worker}"]
        assert mine == list(range(rounds))


def test_update_of_a_missing_job_returns_none(store: JobStore) -> None:
    assert store.update("jnothere", lambda record: record) is None
    assert store.get("jnothere") is None


def test_update_returning_none_changes_nothing(store: JobStore) -> None:
    message = make_message()
    store.create(draft(message))
    before = store.get(message.job_id)
    assert store.update(message.job_id, lambda record: None) == before
    assert store.get(message.job_id) == before


def test_full_redis_raises_broker_unavailable(store: JobStore, full_redis: redis.Redis) -> None:
    """redis.conf uses noeviction so that a full Redis refuses writes and producers 503;
    that only works if the refusal surfaces as BrokerUnavailable, not a raw redis error."""
    with pytest.raises(BrokerUnavailable):
        submit(make_message(), store)


@pytest.mark.parametrize("operation", ["get", "create", "update", "delete", "ping"])
def test_dead_redis_raises_broker_unavailable(dead_redis_url: str, operation: str) -> None:
    """Producers turn BrokerUnavailable into 503 / a Lambda retry; a raw redis error would 500."""
    dead = JobStore(connect(dead_redis_url, socket_timeout=0.5), "unit", TTL)
    message = make_message()
    calls = {
        "get": lambda: dead.get(message.job_id),
        "create": lambda: dead.create(draft(message)),
        "update": lambda: dead.update(message.job_id, lambda record: record),
        "delete": lambda: dead.delete(message.job_id),
        "ping": dead.ping,
    }
    with pytest.raises(BrokerUnavailable) as info:
        calls[operation]()
    assert info.value.transient
