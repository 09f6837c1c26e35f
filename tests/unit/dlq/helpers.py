"""Dead letters made the way Dramatiq makes them, for the ``dlq`` tests and the dashboard's.

Messages are enqueued, fetched and nacked into ``<queue>.XQ`` by Dramatiq's own Redis broker
(``kill``, ``kill_job``), job records carry a realistic attempt history (``attempt``,
``store_record``), and the raw Redis keys are read back (``waiting_ids``, ``dead_ids``) so a
test sees exactly what Heavylift and Dramatiq agree is waiting and dead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from heavylift.jobs.models import (
    AttemptError,
    JobMessage,
    JobOrigin,
    JobRecord,
    JobState,
    S3Location,
)
from heavylift.jobs.spec import PipelineSpec
from heavylift.queue import dead_letters as dlq
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore

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


def listed(client: redis.Redis, store: JobStore, **selector: Any) -> list[dlq.DeadLetter]:
    return dlq.list_dead_letters(client, LAYOUT, store, dlq.Selector(**selector))
