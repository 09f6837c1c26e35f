"""The pipeline spec: which steps each kind of media gets, as plain hashable values.

A job carries its spec in the message, and S3 job ids hash it, so changing what uploads get
is configuration, not code. The spec covers every media kind because the kind is decided
from the bytes on the worker, after the job id exists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from heavylift.queue.names import Queue


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"

    @property
    def queue(self) -> Queue:
        """Each kind has its own queue, so hour-long videos never starve thumbnails."""
        return Queue(self.value)


ThumbnailFormat = Literal["webp", "avif", "jpeg"]
DEFAULT_THUMBNAIL_FORMAT: ThumbnailFormat = "webp"
MIN_THUMBNAIL_WIDTH = 16  # narrower is useless as a picture and cheap to abuse in bulk
MAX_THUMBNAIL_WIDTH = 8192  # the most any deployment may allow (HEAVYLIFT_MAX_OUTPUT_WIDTH)


class ThumbnailStep(Frozen):
    """Resized copies (WebP, AVIF or JPEG), never upscaled, upright, sRGB, metadata stripped."""

    kind: Literal["thumbnail"] = "thumbnail"
    widths: tuple[int, ...] = (256, 1024)
    format: ThumbnailFormat = DEFAULT_THUMBNAIL_FORMAT
    quality: int = Field(default=80, ge=1, le=100)


class MetadataStep(Frozen):
    """``metadata.json``: what the source is."""

    kind: Literal["metadata"] = "metadata"


class PosterStep(Frozen):
    """``poster.jpg``: a representative frame, plus thumbnails of it (the images' format)."""

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
    def default(
        cls,
        widths: tuple[int, ...],
        quality: int,
        format: ThumbnailFormat = DEFAULT_THUMBNAIL_FORMAT,
    ) -> PipelineSpec:
        """The stock pipeline, with the same thumbnails for images and video posters."""
        thumbnails = ThumbnailStep(widths=widths, quality=quality, format=format)
        return cls(
            image=(thumbnails, MetadataStep()),
            video=(PosterStep(thumbnails=thumbnails), VideoPreviewStep(), MetadataStep()),
        )

    @property
    def image_max_width(self) -> int:
        widths = [w for s in self.image if isinstance(s, ThumbnailStep) for w in s.widths]
        return max(widths, default=0)


class OutputOptions(Frozen):
    """What a client may ask of a job's thumbnails; ``None`` keeps the configured default."""

    widths: tuple[int, ...] | None = Field(
        default=None,
        description="Thumbnail widths in pixels, each made once; never upscaled.",
        examples=[[256, 1024]],
    )
    format: ThumbnailFormat | None = Field(
        default=None, description="Thumbnail format, among those configured.", examples=["avif"]
    )
    quality: int | None = Field(default=None, description="Encoder quality, 1..100.", examples=[80])


class OutputBounds(Protocol):
    """The settings ``spec_for`` reads (``heavylift.config.Settings`` has them). A protocol,
    so that the spec, which the processing core imports, does not depend on configuration."""

    @property
    def thumbnail_widths(self) -> tuple[int, ...]: ...
    @property
    def thumbnail_quality(self) -> int: ...
    @property
    def output_formats(self) -> tuple[str, ...]: ...
    @property
    def max_output_width(self) -> int: ...
    @property
    def max_outputs_per_job(self) -> int: ...


def spec_for(options: OutputOptions | None, settings: OutputBounds) -> PipelineSpec:
    """The spec for a client's options, or ``ValueError`` naming the bound they break.

    Only what the client asked is checked (the configured defaults are the operator's
    choice). Widths are sorted, so the same request in any order is the same job.
    """
    options = options or OutputOptions()
    widths = settings.thumbnail_widths
    if options.widths is not None:
        widths = _checked_widths(options.widths, settings)
    quality = settings.thumbnail_quality
    if options.quality is not None:
        quality = _checked_quality(options.quality)
    fmt = DEFAULT_THUMBNAIL_FORMAT
    if options.format is not None:
        fmt = _checked_format(options.format, settings)
    return PipelineSpec.default(widths, quality, fmt)


def _checked_widths(widths: tuple[int, ...], bounds: OutputBounds) -> tuple[int, ...]:
    if not widths:
        raise ValueError("widths: at least one width is required")
    if len(widths) > bounds.max_outputs_per_job:
        raise ValueError(
            f"widths: {len(widths)} asked, max_outputs_per_job is {bounds.max_outputs_per_job}"
        )
    duplicates = sorted({w for w in widths if widths.count(w) > 1})
    if duplicates:
        raise ValueError(f"widths: duplicate width {duplicates[0]}; each width is made once")
    for width in widths:
        if width < MIN_THUMBNAIL_WIDTH:
            raise ValueError(f"widths: {width} is below the minimum width {MIN_THUMBNAIL_WIDTH}")
        if width > bounds.max_output_width:
            raise ValueError(f"widths: {width} is above max_output_width {bounds.max_output_width}")
    return tuple(sorted(widths))


def _checked_quality(quality: int) -> int:
    if not 1 <= quality <= 100:
        raise ValueError(f"quality: {quality} is outside the quality range 1..100")
    return quality


def _checked_format(fmt: ThumbnailFormat, bounds: OutputBounds) -> ThumbnailFormat:
    if fmt not in bounds.output_formats:
        allowed = ", ".join(bounds.output_formats) or "none"
        raise ValueError(f"format: {fmt!r} is not in output_formats ({allowed})")
    return fmt
