"""Shared by the media unit tests: an in-memory sink and a context over a local file."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyvips

from heavylift.jobs.models import OutputEntry
from heavylift.media.context import MediaContext
from heavylift.media.ffmpeg import FFMPEG
from heavylift.media.sink import OutputWriter
from heavylift.media.stream import SourceStream


@dataclass
class MemorySink:
    """An ``OutputSink`` over a dict: name -> bytes, plus what was declared for each."""

    files: dict[str, bytes] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def write(
        self,
        name: str,
        content_type: str,
        produce: OutputWriter,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> OutputEntry:
        buffer = io.BytesIO()
        produce(buffer)
        data = buffer.getvalue()
        self.files[name] = data
        self.types[name] = content_type
        return OutputEntry(
            key=name,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
            width=width,
            height=height,
        )

    def image(self, name: str) -> pyvips.Image:
        return pyvips.Image.new_from_buffer(self.files[name], "")

    def metadata(self) -> dict[str, object]:
        return json.loads(self.files["metadata.json"])


def context_for(
    path: Path,
    *,
    max_pixels: int = 100_000_000,
    max_duration_s: float = 3600,
    max_image_decode_s: float = 60,
    seconds: float = 120,
    progress: list[float] | None = None,
) -> MediaContext:
    return MediaContext(
        max_pixels=max_pixels,
        max_duration_s=max_duration_s,
        max_image_decode_s=max_image_decode_s,
        deadline=time.monotonic() + seconds,
        source_bytes=path.stat().st_size,
        source_url=lambda: str(path.resolve()),
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
