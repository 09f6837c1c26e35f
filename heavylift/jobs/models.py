"""Pydantic models for everything that crosses a boundary: messages, records, results.

The pipeline spec is an explicit value carried in every message and hashed into S3 job
ids, so that "which work does an upload get" can become configuration later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from heavylift.errors import BrokerUnavailable, InternalError, StorageUnavailable, TransientError
from heavylift.jobs.spec import Frozen, MediaKind, PipelineSpec


def utcnow() -> datetime:
    return datetime.now(UTC)


class S3Location(Frozen):
    """One object version in a bucket. ``etag`` is stored without quotes."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def path(self) -> str:
        """What the name says about the file (its suffix routes the job to a queue)."""
        return self.key


class UrlSource(Frozen):
    """A file a worker downloads (``https`` by default), under the SSRF rules of
    ``heavylift.net.safe_http``; only the scheme and shape are checked here."""

    url: str = Field(min_length=8, max_length=2048, examples=["https://example.com/photo.jpg"])

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @property
    def uri(self) -> str:
        return self.url

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def _source_tag(value: Any) -> str:
    is_url = isinstance(value, UrlSource) or (isinstance(value, dict) and "url" in value)
    return "url" if is_url else "s3"


Source = Annotated[
    Annotated[S3Location, Tag("s3")] | Annotated[UrlSource, Tag("url")],
    Discriminator(_source_tag),
]


def source_suffix(source: S3Location | UrlSource) -> str:
    return PurePosixPath(source.path).suffix.lower()


# --- messages and records ------------------------------------------------------------------


class JobOrigin(StrEnum):
    S3_EVENT = "s3_event"
    WEBHOOK = "webhook"


class JobMessage(Frozen):
    """What a producer puts on the queue: everything a worker needs, nothing it must look up."""

    job_id: str
    source: Source
    spec: PipelineSpec
    origin: JobOrigin
    callback_url: str | None = None
    owner: str | None = Field(
        default=None, description="The client that made the job; None for upload events' jobs."
    )


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a permanent error: the input is wrong, retrying cannot help
    DEAD = "dead"  # transient errors until retries ran out; the message is dead-lettered

    @property
    def is_final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD)


class AttemptError(Frozen):
    attempt: int
    code: str
    message: str
    transient: bool
    traceback: str | None = None
    at: datetime = Field(default_factory=utcnow)


class OutputEntry(Frozen):
    """One object the job wrote, as listed in the manifest."""

    key: str
    bytes: int
    sha256: str
    content_type: str
    width: int | None = None
    height: int | None = None


class ImageMetadata(Frozen):
    """``metadata.json`` of an image. Width and height are as displayed (orientation applied)."""

    media_type: Literal["image"] = "image"
    format: str
    width: int
    height: int
    orientation: int = 1
    alpha: bool
    pages: int = 1
    bytes: int
    sha256: str


class VideoMetadata(Frozen):
    """``metadata.json`` of a video. Width and height are as displayed (rotation applied)."""

    media_type: Literal["video"] = "video"
    container: str
    duration_s: float | None
    video_codec: str
    audio_codec: str | None = None
    width: int
    height: int
    rotation: int = 0
    fps: float | None = None
    bitrate_kbps: int | None = None
    bytes: int
    sha256: str | None = Field(None, description="None when ffmpeg read the source by URL.")


class AudioMetadata(Frozen):
    """``metadata.json`` of an audio file."""

    media_type: Literal["audio"] = "audio"
    container: str
    duration_s: float | None
    codec: str
    sample_rate: int
    channels: int
    bitrate_kbps: int | None = None
    bytes: int
    sha256: str | None = None


MediaMetadata = Annotated[
    ImageMetadata | VideoMetadata | AudioMetadata, Field(discriminator="media_type")
]


class Manifest(Frozen):
    """``manifest.json``, written last: its presence means every output listed is complete."""

    job_id: str
    source: Source
    source_sha256: str | None
    outputs: tuple[OutputEntry, ...]
    created_at: datetime = Field(default_factory=utcnow)
    producer: str = "heavylift"


_PRIVATE_FIELDS: dict[str, Any] = {
    "owner": True,
    "error": {"traceback"},
    "errors": {"__all__": {"traceback"}},
}
# Failures on our side: their messages name hosts, ports and buckets, which are for operators.
# Clients see what happened (the code), not where.
_INTERNAL_CODES = frozenset(
    error.code for error in (InternalError, TransientError, BrokerUnavailable, StorageUnavailable)
)
INTERNAL_ERROR_MESSAGE = "a failure inside Heavylift, retried automatically"


class JobRecord(BaseModel):
    """The job as users see it (``GET /v1/jobs/{id}``, ``heavylift jobs show``)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    state: JobState = JobState.QUEUED
    origin: JobOrigin
    source: Source
    spec: PipelineSpec
    queue: str
    callback_url: str | None = None
    owner: str | None = Field(default=None, description="The client that made it (JobMessage).")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = Field(default=0, description="Deliveries started, crashed ones included.")
    replays: int = Field(default=0, description="Times an operator replayed its dead letter.")
    progress: float = 0.0
    error: AttemptError | None = None
    errors: list[AttemptError] = Field(default_factory=list)
    outputs: list[OutputEntry] = Field(default_factory=list)
    manifest_key: str | None = None
    media_kind: MediaKind | None = None
    media: MediaMetadata | None = None
    callback_attempts: int = 0
    callback_delivered_at: datetime | None = None
    callback_error: str | None = None

    def public(self) -> dict[str, Any]:
        """The record for API clients and callbacks: tracebacks, the owner and the words of
        internal failures are for operators only."""
        shown = self.model_dump(mode="json", exclude=_PRIVATE_FIELDS)
        for error in [shown["error"], *shown["errors"]]:
            if error is not None and error["code"] in _INTERNAL_CODES:
                error["message"] = INTERNAL_ERROR_MESSAGE
        return shown

    def message(self) -> JobMessage:
        return JobMessage(
            job_id=self.job_id,
            source=self.source,
            spec=self.spec,
            origin=self.origin,
            callback_url=self.callback_url,
            owner=self.owner,
        )
