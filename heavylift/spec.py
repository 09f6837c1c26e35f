"""The pipeline spec: which steps each kind of media gets, as plain hashable values.

A job carries its spec in the message, and S3 job ids hash it, so changing what uploads get
is configuration, not code. The spec covers every media kind because the kind is decided
from the bytes on the worker, after the job id exists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"

    @property
    def queue(self) -> str:
        """Each kind has its own queue, so hour-long videos never starve thumbnails."""
        return self.value


class ThumbnailStep(Frozen):
    """Resized WebP copies, never upscaled, upright, sRGB, metadata stripped."""

    kind: Literal["thumbnail"] = "thumbnail"
    widths: tuple[int, ...] = (256, 1024)
    format: Literal["webp"] = "webp"
    quality: int = Field(default=80, ge=1, le=100)


class MetadataStep(Frozen):
    """``metadata.json``: what the source is."""

    kind: Literal["metadata"] = "metadata"


class PosterStep(Frozen):
    """``poster.jpg``: a representative frame, plus WebP thumbnails of it."""

    kind: Literal["poster"] = "poster"
    max_width: int = Field(default=1280, ge=64, le=4096)
    quality: int = Field(default=85, ge=1, le=100)
    thumbnails: ThumbnailStep = ThumbnailStep()


class VideoPreviewStep(Frozen):
    """``preview.mp4``: H.264/AAC, fragmented (plays while loading), at most the source's bytes."""

    kind: Literal["video_preview"] = "video_preview"
    max_height: int = Field(default=720, ge=144, le=2160)
    crf: int = Field(default=23, ge=0, le=51)
    max_video_kbps: int = Field(default=2500, ge=100)
    audio_kbps: int = Field(default=128, ge=32, le=320)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"


class AudioPreviewStep(Frozen):
    """``preview.mp3`` or ``preview.opus``."""

    kind: Literal["audio_preview"] = "audio_preview"
    format: Literal["mp3", "opus"] = "mp3"
    kbps: int = Field(default=128, ge=16, le=320)


class WaveformStep(Frozen):
    """``waveform.json`` in audiowaveform's JSON format (version 2, min/max pairs)."""

    kind: Literal["waveform"] = "waveform"
    samples_per_pixel: int = Field(default=256, ge=1)
    bits: Literal[8, 16] = 8


ImageStep = Annotated[ThumbnailStep | MetadataStep, Field(discriminator="kind")]
VideoStep = Annotated[PosterStep | VideoPreviewStep | MetadataStep, Field(discriminator="kind")]
AudioStep = Annotated[AudioPreviewStep | WaveformStep | MetadataStep, Field(discriminator="kind")]


class PipelineSpec(Frozen):
    image: tuple[ImageStep, ...] = (ThumbnailStep(), MetadataStep())
    video: tuple[VideoStep, ...] = (PosterStep(), VideoPreviewStep(), MetadataStep())
    audio: tuple[AudioStep, ...] = (AudioPreviewStep(), WaveformStep(), MetadataStep())

    @classmethod
    def default(cls, widths: tuple[int, ...], quality: int) -> PipelineSpec:
        """The stock pipeline, with the configured thumbnail widths for images and posters."""
        thumbnails = ThumbnailStep(widths=widths, quality=quality)
        return cls(
            image=(thumbnails, MetadataStep()),
            video=(PosterStep(thumbnails=thumbnails), VideoPreviewStep(), MetadataStep()),
        )

    @property
    def image_max_width(self) -> int:
        widths = [w for s in self.image if isinstance(s, ThumbnailStep) for w in s.widths]
        return max(widths, default=0)
