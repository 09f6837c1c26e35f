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
from dataclasses import dataclass
from typing import Any, Protocol

from heavylift.config import Settings
from heavylift.errors import HeavyliftError
from heavylift.jobs.lifecycle import (
    attempt_error,
    record_failure,
    record_move,
    record_progress,
    record_success,
    start_attempt,
    state_after,
)
from heavylift.jobs.models import JobMessage, JobRecord, JobState, Manifest
from heavylift.jobs.sources import open_source
from heavylift.jobs.spec import MediaKind
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.process import WrongQueue, process_media
from heavylift.media.sink import write_json
from heavylift.media.stream import SourceStream
from heavylift.queue.names import Queue
from heavylift.state.counters import JobOutcome, MetricsRecorder
from heavylift.state.store import JobStore
from heavylift.storage.output_sink import S3OutputSink

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
    record = start_attempt(ctx.store, message, delivery)
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
        error = attempt_error(exc, attempt)
        state = state_after(error, final_attempt)
        failed = record_failure(ctx.store, message.job_id, error, final_attempt)
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
    finished = record_success(
        ctx.store,
        message.job_id,
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

        try:
            record_progress(self.store, self.job_id, fraction)
        except HeavyliftError:  # progress is best effort; the job goes on
            log.warning("could not record progress", extra={"job_id": self.job_id})


def _move(message: JobMessage, ctx: WorkerContext, kind: MediaKind, record: JobRecord) -> JobRecord:
    """Send the job to the queue its bytes belong on (the name pointed elsewhere)."""
    ctx.dispatcher.dispatch(message, kind.queue)
    log.info(
        "job moved to the queue of its media kind",
        extra={"job_id": message.job_id, "queue": kind.queue},
    )
    return record_move(ctx.store, message.job_id, kind) or record
