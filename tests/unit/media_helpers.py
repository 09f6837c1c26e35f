"""Shared by the media unit tests: an in-memory sink and a context over a local file."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import time
from pathlib import Path

from heavylift.media.context import MediaContext
from heavylift.media.ffmpeg import FFMPEG
from heavylift.media.sink import Producer
from heavylift.media.stream import SourceStream
from heavylift.models import OutputEntry


class DictSink:
    """Implements ``OutputSink`` over a dict, as the S3 sink does over a bucket."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write(
        self,
        name: str,
        content_type: str,
        produce: Producer,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> OutputEntry:
        chunks: list[bytes] = []
        produce(_Collector(chunks))
        data = b"".join(chunks)
        self.objects[name] = data
        return OutputEntry(
            key=f"job/{name}",
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
            width=width,
            height=height,
        )


class _Collector:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def write(self, data: bytes, /) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def context_for(
    path: Path,
    *,
    max_pixels: int = 100_000_000,
    max_duration_s: float = 3600,
    seconds: float = 120,
    progress: list[float] | None = None,
) -> MediaContext:
    return MediaContext(
        max_pixels=max_pixels,
        max_duration_s=max_duration_s,
        deadline=time.monotonic() + seconds,
        source_bytes=path.stat().st_size,
        source_url=lambda: str(path),
        report_progress=(progress.append if progress is not None else lambda f: None),
    )


def stream_for(path: Path) -> SourceStream:
    return SourceStream(open(path, "rb"), max_bytes=10**12)  # noqa: SIM115


def describe(data: bytes, tmp: Path) -> str:
    """ffmpeg's report of a media file (there is no ffprobe)."""
    path = tmp / "described"
    path.write_bytes(data)
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True
    )
    return result.stderr


def decodes_cleanly(data: bytes, tmp: Path) -> bool:
    path = tmp / "decoded"
    path.write_bytes(data)
    result = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and not result.stderr.strip()


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes
