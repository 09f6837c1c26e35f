"""Submitting jobs: identity, deduplication, and the hand-off to the queue.

Producers call :func:`submit`. A :class:`Dispatcher` (Dramatiq, in production; the core never
imports it) encodes the queue message; the job record and that message are then written to
Redis in one atomic step (``JobStore.create_enqueued``), so nothing is acknowledged that was
not enqueued, a record never exists without its message, and a submission is one round trip.
A duplicate returns the existing job. (A record left without a message by an older version,
which wrote them in two steps, is still enqueued again.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from heavylift.config import Settings
from heavylift.jobs.models import (
    JobMessage,
    JobRecord,
    S3Location,
    UrlSource,
    source_suffix,
    utcnow,
)
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.state.counters import field, media_type_of, metrics_key
from heavylift.state.history import DEFAULT_RETENTION_S, minute_key
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)

# The producer never reads the bytes, so it guesses the queue from the name; the worker
# sniffs the bytes and moves a mislabelled job to the right queue before doing any work.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".ogv"}
AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus"}


@dataclass(frozen=True)
class Envelope:
    """A queue message ready to store: its id and its encoded body."""

    message_id: str
    body: str


class Dispatcher(Protocol):
    """Puts a job message on a named queue, or raises ``BrokerUnavailable``."""

    def envelope(self, message: JobMessage, queue: str) -> Envelope:
        """Encode ``message`` as the queue would store it (for an atomic write elsewhere)."""

    def dispatch(self, message: JobMessage, queue: str) -> None: ...

    def dispatch_callback(self, job_id: str) -> None:
        """Queue the delivery of the job's callback (its record names the URL)."""


@dataclass(frozen=True)
class Submission:
    record: JobRecord
    created: bool

    @property
    def job_id(self) -> str:
        return self.record.job_id


def default_spec(settings: Settings) -> PipelineSpec:
    return PipelineSpec.default(settings.thumbnail_widths, settings.thumbnail_quality)


def s3_job_id(source: S3Location, spec: PipelineSpec) -> str:
    """Same object version + same spec = same job, however often the event is delivered."""
    version = source.version_id or source.etag or ""
    canonical = json.dumps(
        {
            "bucket": source.bucket,
            "key": source.key,
            "version": version,
            "spec": spec.model_dump(mode="json"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return "j" + hashlib.sha256(canonical.encode()).hexdigest()[:31]


def webhook_job_id(idempotency_key: str | None, scope: str = "") -> str:
    """A client's idempotency key maps to one job; without one every request is new.
    ``scope`` (the credential's id) keeps two clients' keys apart."""
    if idempotency_key is None:
        return "j" + uuid.uuid4().hex[:31]
    prefix = f"webhook:{scope}:" if scope else "webhook:"
    digest = hashlib.sha256(f"{prefix}{idempotency_key}".encode()).hexdigest()
    return "j" + digest[:31]


def queue_for(source: S3Location | UrlSource) -> str:
    suffix = source_suffix(source)
    if suffix in VIDEO_SUFFIXES:
        return MediaKind.VIDEO.queue
    if suffix in AUDIO_SUFFIXES:
        return MediaKind.AUDIO.queue
    return MediaKind.IMAGE.queue


def submit(
    message: JobMessage,
    store: JobStore,
    dispatcher: Dispatcher,
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
    envelope = dispatcher.envelope(message, queue)
    keys = Layout(store.namespace).queue(queue)
    submitted = field("jobs_submitted_total", queue=queue, media_type=media_type_of(queue))
    stored, created = store.create_enqueued(
        record,
        keys.waiting,
        keys.messages,
        (envelope.message_id, envelope.body),
        max_depth,
        counter=(metrics_key(store.namespace), submitted),
        history=(minute_key(store.namespace), history_retention_s),
    )
    if created:
        log.info("job submitted", extra={"job_id": message.job_id, "queue": queue})
    elif stored.enqueued_at is None:
        return Submission(_enqueue_stranded(stored, dispatcher, store), created=False)
    return Submission(stored, created=created)


def _enqueue_stranded(record: JobRecord, dispatcher: Dispatcher, store: JobStore) -> JobRecord:
    """A record an older producer wrote without its message (it died in between)."""
    dispatcher.dispatch(record.message(), record.queue)
    enqueued_at = utcnow()

    def mark_enqueued(current: JobRecord) -> JobRecord:
        current.enqueued_at = current.enqueued_at or enqueued_at
        return current

    log.warning("stranded job enqueued again", extra={"job_id": record.job_id})
    return store.update(record.job_id, mark_enqueued) or record
