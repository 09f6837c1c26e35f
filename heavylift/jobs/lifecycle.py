"""Every change a job record goes through after it is created, in one place.

::

    queued ──start──▶ running ──succeeded──▶ succeeded
      ▲  ▲              │ ├──permanent error──▶ failed
      │  └──moved───────┤ ├──transient, retries left──▶ queued
      │                 │ └──transient, last attempt──▶ dead
      └────replayed─────┴── dead / failed (an operator's replay from the dead letters)

plus what no attempt lived to write: a delivery that died with its worker (``worker_lost``,
recorded by the next delivery) and a message that killed every worker it reached
(``poison_message``), and the callback's bookkeeping. Each transition is one compare-and-set
on the record (``JobStore.update``), so concurrent writers never lose each other's changes.
Nothing here imports libvips or ffmpeg: the queue middleware, loaded by every worker, uses it.
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime

from heavylift.errors import PoisonMessage, WorkerLost, as_heavylift_error
from heavylift.jobs.identity import queue_for
from heavylift.jobs.models import (
    AttemptError,
    JobMessage,
    JobRecord,
    JobState,
    MediaMetadata,
    OutputEntry,
    utcnow,
)
from heavylift.jobs.spec import MediaKind
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 8000


def worker_lost(attempt: int) -> AttemptError:
    return AttemptError(
        attempt=attempt,
        code=WorkerLost.code,
        message="the worker process ended before this attempt did (stopped past its shutdown "
        "timeout, killed, out of memory or crashed)",
        transient=True,
    )


def attempt_error(exc: BaseException, attempt: int) -> AttemptError:
    """What an attempt's exception becomes in the record: its code (``internal_error`` for
    one nobody expected), whether a retry can help, and its traceback for operators."""
    error = as_heavylift_error(exc)
    return AttemptError(
        attempt=attempt,
        code=error.code,
        message=error.message[:MAX_MESSAGE_CHARS],
        transient=error.transient,
        traceback="".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:],
    )


def state_after(error: AttemptError, final_attempt: bool) -> JobState:
    if not error.transient:
        return JobState.FAILED
    return JobState.DEAD if final_attempt else JobState.QUEUED


def start_attempt(store: JobStore, message: JobMessage, delivery: int) -> JobRecord:
    """Mark the job running (a job that already succeeded stays as it is); recreate its
    record if it expired or never existed (a hand-enqueued message). ``delivery`` > 1 means
    earlier deliveries of this message died with their worker: the last one is recorded."""

    def running(record: JobRecord) -> JobRecord | None:
        if record.state is JobState.SUCCEEDED:
            return None
        if delivery > 1 and record.attempts:
            record.errors.append(worker_lost(record.attempts))
        record.state = JobState.RUNNING
        record.attempts += 1
        record.started_at = utcnow()
        record.finished_at = None
        record.progress = 0.0
        return record

    record = store.update(message.job_id, running)
    if record is None:
        store.create(
            JobRecord(
                job_id=message.job_id,
                origin=message.origin,
                source=message.source,
                spec=message.spec,
                queue=queue_for(message.source),
                callback_url=message.callback_url,
                owner=message.owner,
                enqueued_at=utcnow(),
            )
        )
        record = store.update(message.job_id, running)
    assert record is not None
    return record


def record_progress(store: JobStore, job_id: str, fraction: float) -> None:
    """Progress of a running job; 1.0 only once it is committed (``succeeded``)."""

    def set_progress(record: JobRecord) -> JobRecord | None:
        if record.state is not JobState.RUNNING:
            return None
        record.progress = round(min(fraction, 0.99), 3)
        return record

    store.update(job_id, set_progress)


def record_success(
    store: JobStore,
    job_id: str,
    *,
    outputs: list[OutputEntry],
    manifest_key: str,
    media: MediaMetadata,
    media_kind: MediaKind,
) -> JobRecord | None:
    def succeeded(record: JobRecord) -> JobRecord:
        record.state = JobState.SUCCEEDED
        record.finished_at = utcnow()
        record.progress = 1.0
        record.error = None
        record.outputs = outputs
        record.manifest_key = manifest_key
        record.media = media
        record.media_kind = media_kind
        return record

    return store.update(job_id, succeeded)


def record_failure(
    store: JobStore, job_id: str, error: AttemptError, final_attempt: bool
) -> JobRecord | None:
    """The attempt failed: ``failed`` (permanent), ``dead`` (no retry left) or ``queued``
    (a retry follows)."""
    state = state_after(error, final_attempt)

    def failed(record: JobRecord) -> JobRecord:
        record.state = state
        if state.is_final:
            record.finished_at = utcnow()
        record.error = error
        record.errors.append(error)
        return record

    return store.update(job_id, failed)


def record_move(store: JobStore, job_id: str, kind: MediaKind) -> JobRecord | None:
    """The bytes are another kind than the name said: queued again, on that kind's queue."""

    def moved(record: JobRecord) -> JobRecord:
        record.state = JobState.QUEUED
        record.queue = kind.queue
        record.media_kind = kind
        return record

    return store.update(job_id, moved)


def record_poison_message(store: JobStore, job_id: str, deliveries: int) -> JobRecord | None:
    """The job's message killed its worker on every one of ``deliveries``: mark it dead."""

    def poisoned(record: JobRecord) -> JobRecord:
        if record.state is JobState.RUNNING and record.attempts:
            record.errors.append(worker_lost(record.attempts))
        error = AttemptError(
            attempt=record.attempts,
            code=PoisonMessage.code,
            message=f"{deliveries} deliveries died with their worker process; "
            "dead-lettered instead of delivered again",
            transient=False,
        )
        record.error = error
        record.errors.append(error)
        record.state = JobState.DEAD
        record.finished_at = utcnow()
        return record

    log.error("poison message dead-lettered", extra={"job_id": job_id, "deliveries": deliveries})
    return store.update(job_id, poisoned)


def record_replay(store: JobStore, job_id: str, listed_at: datetime | None) -> None:
    """An operator replayed the job's dead letter: count it, and show the job queued again
    unless a worker took it since the record was read (``listed_at``, its ``updated_at``)."""

    def replayed(record: JobRecord) -> JobRecord:
        record.replays += 1
        if listed_at is not None and record.updated_at == listed_at:
            record.state = JobState.QUEUED
            record.error = None  # the history stays in ``errors``
            record.finished_at = None
            record.progress = 0.0
        return record

    store.update(job_id, replayed)


def record_callback_attempt(store: JobStore, job_id: str, error: str | None) -> None:
    """One delivery of the job's callback: delivered (``error`` None) or not, and why."""

    def attempted(record: JobRecord) -> JobRecord:
        record.callback_attempts += 1
        record.callback_error = error
        if error is None:
            record.callback_delivered_at = utcnow()
        return record

    store.update(job_id, attempted)
