"""Pydantic models for everything that crosses a boundary: messages, records, results.

The pipeline spec is an explicit value carried in every message and hashed into S3 job
ids, so that "which work does an upload get" can become configuration later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class S3Location(Frozen):
    """One object version in a bucket. ``etag`` is stored without quotes."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# --- pipeline spec: an ordered list of steps, each a plain value ---------------------------


class ThumbnailStep(Frozen):
    """Resized copies, never upscaled, upright, sRGB, metadata stripped."""

    kind: Literal["thumbnail"] = "thumbnail"
    widths: tuple[int, ...] = (256, 1024)
    format: Literal["webp"] = "webp"
    quality: int = Field(80, ge=1, le=100)


class MetadataStep(Frozen):
    """``metadata.json``: what the source is (dimensions, format, orientation, hash)."""

    kind: Literal["metadata"] = "metadata"


Step = Annotated[ThumbnailStep | MetadataStep, Field(discriminator="kind")]


class PipelineSpec(Frozen):
    steps: tuple[Step, ...]

    @classmethod
    def for_images(cls, widths: tuple[int, ...], quality: int) -> PipelineSpec:
        return cls(steps=(ThumbnailStep(widths=widths, quality=quality), MetadataStep()))

    @property
    def max_width(self) -> int:
        widths = [w for s in self.steps if isinstance(s, ThumbnailStep) for w in s.widths]
        return max(widths, default=0)


# --- messages and records ------------------------------------------------------------------


class JobOrigin(StrEnum):
    S3_EVENT = "s3_event"
    WEBHOOK = "webhook"


class JobMessage(Frozen):
    """What a producer puts on the queue: everything a worker needs, nothing it must look up."""

    job_id: str
    source: S3Location
    spec: PipelineSpec
    origin: JobOrigin


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
    """The content of ``metadata.json`` for an image source."""

    media_type: Literal["image"] = "image"
    format: str
    width: int
    height: int
    orientation: int = 1
    alpha: bool
    pages: int = 1
    bytes: int
    sha256: str


class Manifest(Frozen):
    """``manifest.json``, written last: its presence means every output listed is complete."""

    job_id: str
    source: S3Location
    source_sha256: str
    outputs: tuple[OutputEntry, ...]
    created_at: datetime = Field(default_factory=utcnow)
    producer: str = "heavylift"


class JobRecord(BaseModel):
    """The job as users see it (``GET /v1/jobs/{id}``, ``heavylift jobs show``)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    state: JobState = JobState.QUEUED
    origin: JobOrigin
    source: S3Location
    spec: PipelineSpec
    queue: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    progress: float = 0.0
    error: AttemptError | None = None
    errors: list[AttemptError] = Field(default_factory=list)
    outputs: list[OutputEntry] = Field(default_factory=list)
    manifest_key: str | None = None
    media: ImageMetadata | None = None

    def message(self) -> JobMessage:
        return JobMessage(
            job_id=self.job_id, source=self.source, spec=self.spec, origin=self.origin
        )
