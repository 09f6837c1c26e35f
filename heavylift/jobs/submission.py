"""Submitting a job: its record and its queue message, written in one atomic step.

Producers call :func:`submit`. The message is encoded here (``heavylift.queue.wire``), and
the record and that message are written to Redis in one Lua script
(``JobStore.create_enqueued``), so nothing is acknowledged that was not enqueued, a record
never exists without its message, and a submission is one round trip. A duplicate returns
the existing job, with nothing enqueued again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from heavylift.jobs.identity import queue_for
from heavylift.jobs.models import JobMessage, JobRecord, utcnow
from heavylift.queue import wire
from heavylift.queue.names import ACTORS
from heavylift.state.counters import CounterName, field, media_type_of
from heavylift.state.history import DEFAULT_RETENTION_S, minute_key
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    record: JobRecord
    created: bool

    @property
    def job_id(self) -> str:
        return self.record.job_id


def submit(
    message: JobMessage,
    store: JobStore,
    *,
    max_depth: int = 0,
    history_retention_s: int = DEFAULT_RETENTION_S,
) -> Submission:
    """Create (or find) the job with its message on the queue. ``max_depth`` > 0 refuses a
    new job (``QueueFull``) while its queue holds that many waiting jobs. The submission is
    counted for ``/metrics`` and the dashboard's history in the same step."""
    queue = queue_for(message.source)
    record = JobRecord(
        job_id=message.job_id,
        origin=message.origin,
        source=message.source,
        spec=message.spec,
        queue=queue,
        callback_url=message.callback_url,
        owner=message.owner,
        enqueued_at=utcnow(),
    )
    encoded = wire.encode(queue, ACTORS[queue], message.model_dump(mode="json"))
    keys = store.layout.queue(queue)
    submitted = field(CounterName.JOBS_SUBMITTED, queue=queue, media_type=media_type_of(queue))
    stored, created = store.create_enqueued(
        record,
        keys.waiting,
        keys.messages,
        (encoded.redis_message_id, encoded.body),
        max_depth,
        counter=(store.layout.metrics, submitted),
        history=(minute_key(store.namespace), history_retention_s),
    )
    if created:
        log.info("job submitted", extra={"job_id": message.job_id, "queue": queue})
    return Submission(stored, created=created)
