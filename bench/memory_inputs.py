"""Inputs of the memory benchmark: two videos that differ only in length, and a 100 MP JPEG.

The small video is generated once with ffmpeg (testsrc2 plus temporal noise, so it does not
compress away, at a fixed high bitrate with ``-preset ultrafast``); the big one is that same
clip repeated with the concat demuxer and stream copy. Both are H.264/AAC in an MP4 with the
index first (``+faststart``), same resolution, frame rate and bitrate: only the duration,
and so the byte count, differs. Copying is I/O, so 2 GiB takes seconds instead of minutes.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from bench.inputs import make_inputs

MIB = 1024**2
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MemoryInput:
    label: str
    path: Path
    kind: str  # "video" or "image"
    bytes: int
    duration_s: float | None  # videos only
    detail: str
    generate_seconds: float


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-nostdin", "-y", *args], check=True)


def _clip(path: Path, frames: int, size: str, rate: int, mbps: float) -> None:
    seconds = frames / rate
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds:.3f}",
        "-vf", "noise=alls=20:allf=t",
        "-frames:v", str(frames),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-b:v", f"{mbps}M", "-maxrate", f"{mbps}M", "-bufsize", f"{mbps / 2}M",
        "-g", str(2 * rate),
        "-c:a", "aac", "-b:a", "128k",
        "-movflags", "+faststart",
        str(path),
    )  # fmt: skip


def make_videos(
    directory: Path,
    small_mib: float,
    big_mib: float,
    *,
    size: str = "1920x1080",
    rate: int = 30,
    mbps: float = 100.0,
) -> tuple[MemoryInput, MemoryInput]:
    """The small clip (aimed at ``small_mib``), and the big one (the clip repeated to
    about ``big_mib``)."""
    directory.mkdir(parents=True, exist_ok=True)
    small_path = directory / f"video-{small_mib:g}mib.mp4"
    started = time.monotonic()
    target = small_mib * MIB
    frames = max(2, round(target * 8 / (mbps * 1e6) * rate))
    for _ in range(3):  # x264's rate control overshoots a little on short clips: correct it
        _clip(small_path, frames, size, rate, mbps)
        actual = small_path.stat().st_size
        if abs(actual - target) <= 0.04 * target:
            break
        frames = max(2, round(frames * target / actual))
    small_seconds = time.monotonic() - started
    detail = f"{size} {rate} fps H.264 {mbps:g} Mb/s + AAC, MP4 (faststart)"
    small = MemoryInput(
        f"{_size_label(small_mib)} video",
        small_path,
        "video",
        small_path.stat().st_size,
        frames / rate,
        detail,
        round(small_seconds, 2),
    )

    started = time.monotonic()
    repeats = max(1, round(big_mib * MIB / small.bytes))
    listing = directory / "concat.txt"
    listing.write_text(f"file '{small_path.name}'\n" * repeats)
    big_path = directory / f"video-{big_mib:g}mib.mp4"
    _ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c", "copy", "-movflags", "+faststart", str(big_path),
    )  # fmt: skip
    big = MemoryInput(
        f"{_size_label(big_mib)} video",
        big_path,
        "video",
        big_path.stat().st_size,
        repeats * frames / rate,
        f"{detail}; the small clip × {repeats}",
        round(time.monotonic() - started, 2),
    )
    return small, big


def make_warm_video(directory: Path) -> MemoryInput:
    """A 2 s 640×360 clip for the untimed warm-up job."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "warm.mp4"
    started = time.monotonic()
    _clip(path, 60, "640x360", 30, 4)
    return MemoryInput(
        "warm-up video", path, "video", path.stat().st_size, 2.0, "640x360 4 Mb/s",
        round(time.monotonic() - started, 2),
    )  # fmt: skip


def make_jpeg(directory: Path, width: int, height: int) -> MemoryInput:
    """A photo-like baseline JPEG (Q=88) from ``infra.samples.write_sample``, written in a
    helper process so the benchmark process never starts libvips."""
    started = time.monotonic()
    (path,) = make_inputs(directory, 1, width, height, prefix=f"photo-{width}x{height}")
    megapixels = width * height / 1e6
    return MemoryInput(
        f"{megapixels:g} MP JPEG",
        path,
        "image",
        path.stat().st_size,
        None,
        f"{width}×{height} baseline JPEG, Q=88",
        round(time.monotonic() - started, 2),
    )


def _size_label(mib: float) -> str:
    """The size asked for (the files come out within a few percent of it)."""
    return f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib:g} MiB"
