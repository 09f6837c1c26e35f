"""Run one job on a worker: record state, stream the source through the steps, commit.

This is the whole life of an attempt. It is called by the Dramatiq actor (which only knows
how many retries are left) and keeps the job record truthful at every exit:

* success: every output written, then ``manifest.json`` (the commit marker), then the
  record says ``succeeded``;
* permanent error: ``failed`` with the error's code; retrying cannot help;
* transient error: back to ``queued`` to be retried, or ``dead`` when this was the last try.

Outputs are keyed by job id and step, so an attempt that runs twice writes the same keys.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any

from heavylift.config import Settings
from heavylift.errors import HeavyliftError, TransientError
from heavylift.jobs import queue_for
from heavylift.jobstore import JobStore
from heavylift.media.image import decode_image
from heavylift.media.steps import run_steps
from heavylift.media.stream import SourceStream
from heavylift.models import (
    AttemptError,
    ImageMetadata,
    JobMessage,
    JobRecord,
    JobState,
    Manifest,
    OutputEntry,
    utcnow,
)
from heavylift.storage import S3OutputSink, open_object

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process shares between jobs: settings, Redis, one S3 client."""

    settings: Settings
    store: JobStore
    s3: Any


def run_job(
    message: JobMessage, ctx: WorkerContext, *, attempt: int, final_attempt: bool
) -> JobRecord:
    """Process ``message``; re-raise failures so the queue can retry or dead-letter them."""
    record = _start(message, ctx.store, attempt)
    if record.state is JobState.SUCCEEDED:
        log.info("job already succeeded; skipping redelivery", extra={"job_id": message.job_id})
        return record
    started = time.monotonic()
    try:
        outputs, manifest_entry, media = _process(message, ctx)
    except Exception as exc:
        error = _attempt_error(exc, attempt)
        state = _state_after(error, final_attempt)
        _finish(ctx.store, message.job_id, state, error=error)
        log.warning(
            "job attempt failed",
            extra={
                "job_id": message.job_id,
                "code": error.code,
                "state": state.value,
                "attempt": attempt,
                "error": error.message,
            },
        )
        raise
    finished = _finish(
        ctx.store,
        message.job_id,
        JobState.SUCCEEDED,
        outputs=[*outputs, manifest_entry],
        manifest_key=manifest_entry.key,
        media=media,
    )
    log.info(
        "job succeeded",
        extra={
            "job_id": message.job_id,
            "outputs": len(outputs) + 1,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return finished or record


def _process(
    message: JobMessage, ctx: WorkerContext
) -> tuple[list[OutputEntry], OutputEntry, ImageMetadata]:
    settings = ctx.settings
    with open_object(ctx.s3, message.source, settings.max_source_bytes) as reader:
        stream = SourceStream(reader, settings.max_source_bytes, settings.read_chunk_bytes)
        decoded = decode_image(stream, message.spec.max_width or 1024, settings.max_pixels)
    sink = S3OutputSink(ctx.s3, settings.results_bucket, message.job_id, settings)
    outputs = run_steps(decoded, message.spec.steps, sink)
    manifest = Manifest(
        job_id=message.job_id,
        source=message.source,
        source_sha256=decoded.metadata.sha256,
        outputs=tuple(outputs),
    )
    document = manifest.model_dump_json(indent=2).encode()
    manifest_entry = sink.write(
        "manifest.json", "application/json", lambda out: out.write(document)
    )
    return outputs, manifest_entry, decoded.metadata


def _start(message: JobMessage, store: JobStore, attempt: int) -> JobRecord:
    """Mark the job running; recreate its record if it expired or was never written."""

    def running(record: JobRecord) -> JobRecord | None:
        if record.state is JobState.SUCCEEDED:
            return None
        record.state = JobState.RUNNING
        record.attempts = attempt
        record.started_at = utcnow()
        record.finished_at = None
        record.progress = 0.0
        return record

    record = store.update(message.job_id, running)
    if record is None:  # expired, or a message that never had a record (hand-enqueued)
        store.create(
            JobRecord(
                job_id=message.job_id,
                origin=message.origin,
                source=message.source,
                spec=message.spec,
                queue=queue_for(message.spec),
                enqueued_at=utcnow(),
            )
        )
        record = store.update(message.job_id, running)
    assert record is not None
    return record


def _finish(
    store: JobStore,
    job_id: str,
    state: JobState,
    *,
    error: AttemptError | None = None,
    **fields: Any,
) -> JobRecord | None:
    def change(record: JobRecord) -> JobRecord:
        record.state = state
        if state.is_final:
            record.finished_at = utcnow()
        if state is JobState.SUCCEEDED:
            record.progress = 1.0
            record.error = None
        if error is not None:
            record.error = error
            record.errors.append(error)
        for name, value in fields.items():
            setattr(record, name, value)
        return record

    return store.update(job_id, change)


def _attempt_error(exc: BaseException, attempt: int) -> AttemptError:
    if isinstance(exc, HeavyliftError):
        code, message, transient = exc.code, exc.message, exc.transient
    else:  # a bug or an unforeseen library error: retry, it may be load-related
        code, message, transient = TransientError.code, f"{type(exc).__name__}: {exc}", True
    return AttemptError(
        attempt=attempt,
        code=code,
        message=message[:2000],
        transient=transient,
        traceback="".join(traceback.format_exception(exc))[-8000:],
    )


def _state_after(error: AttemptError, final_attempt: bool) -> JobState:
    if not error.transient:
        return JobState.FAILED
    return JobState.DEAD if final_attempt else JobState.QUEUED
