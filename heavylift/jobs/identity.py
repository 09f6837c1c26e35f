"""Which job a submission is, and which queue it goes to, before any bytes are read.

Identity makes at-least-once delivery safe: the same S3 object version under the same spec
is the same job however often its event arrives, and a client's idempotency key is one job
per client. The queue is a guess from the name (producers never read the bytes); a worker
that sniffs another kind moves the job before doing any work.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from heavylift.config import Settings
from heavylift.jobs.models import S3Location, UrlSource, source_suffix
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.queue.names import Queue

# A client's idempotency key (an ``Idempotency-Key`` header, or a signed ``webhook-id``): at
# most this many printable ASCII characters.
MAX_IDEMPOTENCY_KEY_CHARS = 256

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".ogv"}
AUDIO_SUFFIXES = {".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus"}


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
    ``scope`` (the client) keeps two clients' keys apart."""
    if idempotency_key is None:
        return "j" + uuid.uuid4().hex[:31]
    prefix = f"webhook:{scope}:" if scope else "webhook:"
    digest = hashlib.sha256(f"{prefix}{idempotency_key}".encode()).hexdigest()
    return "j" + digest[:31]


def queue_for(source: S3Location | UrlSource) -> Queue:
    suffix = source_suffix(source)
    if suffix in VIDEO_SUFFIXES:
        return MediaKind.VIDEO.queue
    if suffix in AUDIO_SUFFIXES:
        return MediaKind.AUDIO.queue
    return MediaKind.IMAGE.queue
