"""Outcomes no attempt lived to write: a delivery that died with its worker, and a message
that killed every worker it reached. Kept apart from ``heavylift.jobs.runner`` so that the queue
middleware (loaded by producers too) can record them without importing libvips or ffmpeg."""

from __future__ import annotations

import logging

from heavylift.errors import PoisonMessage, WorkerLost
from heavylift.jobs.models import AttemptError, JobRecord, JobState, utcnow
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)


def worker_lost(attempt: int) -> AttemptError:
    return AttemptError(
        attempt=attempt,
        code=WorkerLost.code,
        message="the worker process ended before this attempt did (stopped past its shutdown "
        "timeout, killed, out of memory or crashed)",
        transient=True,
    )


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
