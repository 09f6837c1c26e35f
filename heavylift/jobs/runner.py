"""Run one job on a worker: record state, stream the source through its processor, commit.

This is the whole life of an attempt. It is called by a Dramatiq actor (which knows its
queue and how many retries are left) and keeps the job record truthful at every exit:

* success: every output written, then ``manifest.json`` (the commit marker), then the
  record says ``succeeded``;
* wrong queue (the name lied about the bytes): the job moves to the right queue, unrun;
* permanent error: ``failed`` with the error's code; retrying cannot help;
* transient error: back to ``queued`` to be retried, or ``dead`` when this was the last try;
* the worker died mid-attempt: nobody could write anything, so the next delivery records
  that attempt as ``worker_lost`` before it starts (see ``heavylift.queue.deliveries``).

Outputs are keyed by job id and step, so an attempt that runs twice writes the same keys.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Protocol

from heavylift.config import Settings
from heavylift.errors import HeavyliftError, TransientError
from heavylift.jobs.identity import queue_for
from heavylift.jobs.lifecycle import worker_lost
from heavylift.jobs.models import AttemptError, JobMessage, JobRecord, JobState, Manifest, utcnow
from heavylift.jobs.sources import open_source
from heavylift.jobs.spec import MediaKind
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.process import WrongQueue, process_media
from heavylift.media.sink import write_json
from heavylift.media.stream import SourceStream
from heavylift.queue.names import Queue
from heavylift.state.counters import JobOutcome, MetricsRecorder
from heavylift.state.store import JobStore
from heavylift.storage.s3 import S3OutputSink

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0


class Dispatcher(Protocol):
    """What a worker enqueues while it runs a job (Dramatiq, in production; the job core never
    imports it). Raises ``BrokerUnavailable`` when the queue is away."""

    def dispatch(self, message: JobMessage, queue: Queue) -> None:
        """Put a job on ``queue`` (its bytes belong there, not where its name pointed)."""

    def dispatch_callback(self, job_id: str) -> None:
        """Queue the delivery of the job's callback (its record names the URL)."""


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process shares between jobs: settings, Redis, S3, the queue."""

    settings: Settings
    store: JobStore
    s3: Any
    dispatcher: Dispatcher
    metrics: MetricsRecorder | None = None


def run_job(
    message: JobMessage,
    ctx: WorkerContext,
    *,
    queue: MediaKind,
    delivery: int = 1,
    final_attempt: bool,
) -> JobRecord:
    """Process ``message``; re-raise failures so the queue can retry or dead-letter them.

    ``delivery`` > 1 means earlier deliveries of this very message died with their worker."""
    record = _start(message, ctx.store, delivery)
    attempt = record.attempts
    if record.state is JobState.SUCCEEDED:
        log.info("job already succeeded; skipping redelivery", extra={"job_id": message.job_id})
        return record
    started = time.monotonic()
    try:
        result, manifest_key = _process(message, ctx, queue)
    except WrongQueue as move:
        return _move(message, ctx, move.kind, record)
    except Exception as exc:
        error = _attempt_error(exc, attempt)
        state = _state_after(error, final_attempt)
        failed = _finish(ctx.store, message.job_id, state, error=error)
        _measure(ctx, queue, "failed", started, code=error.code)
        if failed is not None and state.is_final:
            notify(ctx, failed)
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
        outputs=result.outputs,
        manifest_key=manifest_key,
        media=result.metadata,
        media_kind=queue,
    )
    log.info(
        "job succeeded",
        extra={
            "job_id": message.job_id,
            "kind": queue.value,
            "outputs": len(result.outputs),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    _measure(
        ctx,
        queue,
        "succeeded",
        started,
        bytes_in=result.metadata.bytes,
        bytes_out=sum(entry.bytes for entry in result.outputs),
    )
    if finished is not None:
        notify(ctx, finished)
    return finished or record


def _measure(
    ctx: WorkerContext, kind: MediaKind, outcome: str, started: float, **facts: Any
) -> None:
    if ctx.metrics is not None:
        seconds = time.monotonic() - started
        ctx.metrics.attempt(JobOutcome(kind.queue, kind.value, outcome, seconds, **facts))


def notify(ctx: WorkerContext, record: JobRecord) -> None:
    """Queue the job's callback, if it asked for one. The outcome stands either way, so a
    queue that stays away past the store's patience costs the callback, never the job."""
    if not record.callback_url:
        return
    deadline = time.monotonic() + ctx.store.patience_s
    while True:
        try:
            ctx.dispatcher.dispatch_callback(record.job_id)
            return
        except HeavyliftError as exc:
            if time.monotonic() > deadline:
                log.error("callback not queued", extra={"job_id": record.job_id, "error": str(exc)})
                return
            time.sleep(0.5)


def _process(message: JobMessage, ctx: WorkerContext, queue: MediaKind) -> tuple[MediaResult, str]:
    settings = ctx.settings
    sink = S3OutputSink(ctx.s3, settings.results_bucket, message.job_id, settings)
    with open_source(message.source, ctx.s3, settings) as opened:
        media = MediaContext(
            max_pixels=settings.max_pixels,
            max_duration_s=settings.max_duration_s,
            max_image_decode_s=settings.max_image_decode_s,
            deadline=time.monotonic() + settings.max_job_seconds,
            source_bytes=opened.size,
            source_url=opened.seekable_url,
            report_progress=_ProgressReporter(ctx.store, message.job_id),
        )
        stream = SourceStream(opened.reader, settings.max_source_bytes, settings.read_chunk_bytes)
        result = process_media(stream, message.spec, sink, media, queue)
    manifest = Manifest(
        job_id=message.job_id,
        source=message.source,
        source_sha256=result.source_sha256,
        outputs=tuple(result.outputs),
    )
    entry = write_json(sink, "manifest.json", manifest)
    result.outputs.append(entry)
    return result, entry.key


class _ProgressReporter:
    """Writes progress to the record at most once a second (called from ffmpeg's thread)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.last_write = 0.0
        self.lock = threading.Lock()

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last_write < PROGRESS_INTERVAL_S:
                return
            self.last_write = now

        def set_progress(record: JobRecord) -> JobRecord | None:
            if record.state is not JobState.RUNNING:
                return None
            record.progress = round(min(fraction, 0.99), 3)  # 1.0 only once committed
            return record

        try:
            self.store.update(self.job_id, set_progress)
        except HeavyliftError:  # progress is best effort; the job goes on
            log.warning("could not record progress", extra={"job_id": self.job_id})


def _move(message: JobMessage, ctx: WorkerContext, kind: MediaKind, record: JobRecord) -> JobRecord:
    """Send the job to the queue its bytes belong on (the name pointed elsewhere)."""
    ctx.dispatcher.dispatch(message, kind.queue)

    def moved(record: JobRecord) -> JobRecord:
        record.state = JobState.QUEUED
        record.queue = kind.queue
        record.media_kind = kind
        return record

    log.info(
        "job moved to the queue of its media kind",
        extra={"job_id": message.job_id, "queue": kind.queue},
    )
    return ctx.store.update(message.job_id, moved) or record


def _start(message: JobMessage, store: JobStore, delivery: int) -> JobRecord:
    """Mark the job running; recreate its record if it expired or was never written."""

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
    if record is None:  # expired, or a message that never had a record (hand-enqueued)
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
