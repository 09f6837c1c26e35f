"""Submitting jobs: identity, deduplication, and the hand-off to the queue.

Producers call :func:`submit`. It creates the job record if the job is new, then asks a
:class:`Dispatcher` (Dramatiq, in production; the core never imports it) to enqueue the
message. Nothing is acknowledged that was not enqueued: if enqueueing fails, the new record
is removed again and ``BrokerUnavailable`` propagates so the caller answers 503 or lets the
platform retry. A duplicate whose first enqueue never completed is enqueued again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from heavylift.config import Settings
from heavylift.errors import HeavyliftError
from heavylift.jobstore import JobStore
from heavylift.models import JobMessage, JobRecord, S3Location, UrlSource, source_suffix, utcnow
from heavylift.spec import MediaKind, PipelineSpec

log = logging.getLogger(__name__)

# The producer never reads the bytes, so it guesses the queue from the name; the worker
# sniffs the bytes and moves a mislabelled job to the right queue before doing any work.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".ogv"}
AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus"}


class Dispatcher(Protocol):
    """Puts a job message on a named queue, or raises ``BrokerUnavailable``."""

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


def submit(message: JobMessage, store: JobStore, dispatcher: Dispatcher) -> Submission:
    """Create (or find) the job and make sure its message is on the queue."""
    queue = queue_for(message.source)
    draft = JobRecord(
        job_id=message.job_id,
        origin=message.origin,
        source=message.source,
        spec=message.spec,
        queue=queue,
        callback_url=message.callback_url,
    )
    record, created = store.create(draft)
    if not created and record.enqueued_at is not None:
        log.info("duplicate job", extra={"job_id": message.job_id})
        return Submission(record, created=False)
    try:
        dispatcher.dispatch(record.message(), queue)
    except HeavyliftError:
        if created:
            with suppress(HeavyliftError):  # Redis may be the thing that is down
                store.delete(message.job_id)
        raise
    enqueued_at = utcnow()

    def mark_enqueued(current: JobRecord) -> JobRecord:
        current.enqueued_at = current.enqueued_at or enqueued_at
        return current

    record = store.update(message.job_id, mark_enqueued) or record
    log.info(
        "job submitted",
        extra={"job_id": message.job_id, "queue": queue, "source": message.source.uri},
    )
    return Submission(record, created=created)
