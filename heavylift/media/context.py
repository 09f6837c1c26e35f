"""What a media processor gets besides the bytes, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from heavylift.jobs.models import MediaMetadata, OutputEntry


@dataclass(frozen=True)
class MediaContext:
    """Limits, a deadline, progress reporting, and a way to read the source where it lives."""

    max_pixels: int
    max_duration_s: float
    max_image_decode_s: float  # an image decode running longer is stopped
    deadline: float  # time.monotonic() value past which ffmpeg is killed
    source_bytes: int
    # for inputs that need seeking: a presigned http(s) GET URL, or the absolute path of
    # the spool file a URL source was downloaded to
    source_url: Callable[[], str]
    report_progress: Callable[[float], None] = field(default=lambda fraction: None)


@dataclass(frozen=True)
class MediaResult:
    outputs: list[OutputEntry]
    metadata: MediaMetadata

    @property
    def source_sha256(self) -> str | None:
        return self.metadata.sha256
