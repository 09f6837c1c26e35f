"""What a media processor gets besides the bytes, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from heavylift.models import MediaMetadata, OutputEntry


@dataclass(frozen=True)
class MediaContext:
    """Limits, a deadline, progress reporting, and a way to read the source by URL."""

    max_pixels: int
    max_duration_s: float
    deadline: float  # time.monotonic() value past which ffmpeg is killed
    source_bytes: int
    source_url: Callable[[], str]  # a presigned GET URL, for inputs that need seeking
    report_progress: Callable[[float], None] = field(default=lambda fraction: None)


@dataclass(frozen=True)
class MediaResult:
    outputs: list[OutputEntry]
    metadata: MediaMetadata

    @property
    def source_sha256(self) -> str | None:
        return self.metadata.sha256
