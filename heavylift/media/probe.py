"""What a media file contains, read from ffmpeg's own description of its input.

imageio-ffmpeg ships ffmpeg but no ffprobe, so ffmpeg is run on the input without outputs
and its "Input #0 …" report on stderr is parsed. Inputs that stream are probed from the
head the worker has already peeked (fed on stdin), so the object is not read a second
time; only an input that needs seeking is probed where it lives. Fields ffmpeg cannot know
from a head (the duration of an MP3 without a header, of Ogg) are estimated from the
bitrate and the source size where possible, or come back as None.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace

from heavylift.errors import CorruptMedia, StorageUnavailable
from heavylift.media.ffmpeg import FFMPEG
from heavylift.media.ffmpeg_input import FFmpegInput

PROBE_BYTES = 2 * 1024 * 1024  # the head a streaming input is probed from
INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^,\s]+)*), from", re.M)
DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
BITRATE = re.compile(r"Duration: .*?bitrate: (\d+) kb/s")
STREAM = re.compile(r"^\s*Stream #0:\d+[^:]*: (Video|Audio): (.*)$", re.M)
STREAM_KBPS = re.compile(r"\b(\d+) kb/s")
SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
FPS = re.compile(r"([\d.]+) fps")
RATE = re.compile(r"(\d+) Hz")
ROTATION = re.compile(r"(?i)display ?matrix: rotation of (-?[\d.]+) degrees")
CHANNEL_WORDS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int  # as stored; see ``rotation``
    height: int
    fps: float | None
    rotation: int  # degrees clockwise that make it upright: 0, 90, 180 or 270

    @property
    def display_size(self) -> tuple[int, int]:
        turned = self.rotation in (90, 270)
        return (self.height, self.width) if turned else (self.width, self.height)


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class ProbeInfo:
    container: str
    duration_s: float | None
    bitrate_kbps: int | None
    video: VideoStream | None
    audio: AudioStream | None
    streams_kbps: int | None = None  # the streams' own bitrates, summed
    duration_estimated: bool = False  # from size and bitrate: the header had none


def probe(
    source: FFmpegInput,
    *,
    head: bytes | None = None,
    source_bytes: int | None = None,
    timeout_s: float = 60,
) -> ProbeInfo:
    """Describe ``source``: fed ``head`` on stdin, or read where it lives (a presigned URL
    reads only what it needs). ``source_bytes`` lets a missing duration be estimated."""
    try:
        result = subprocess.run(
            [FFMPEG, "-hide_banner", "-nostdin", *source.args()],
            input=head if source.reads_stdin else None,
            stdin=None if source.reads_stdin else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StorageUnavailable(f"probing the source took over {timeout_s:.0f}s") from exc
    report = result.stderr.decode(errors="replace")
    if "Server returned 5" in report or "Connection refused" in report:
        raise StorageUnavailable(f"ffmpeg could not read the source: {_last_line(report)}")
    report = source.redact(report)
    return completed(parse_report(report), source_bytes)


def completed(info: ProbeInfo, source_bytes: int | None) -> ProbeInfo:
    """Duration from size and bitrate, or bitrate from size and duration, where a head did
    not say (what ffmpeg itself does for a file whose size it knows)."""
    if not source_bytes:
        return info
    kbps = info.bitrate_kbps or info.streams_kbps
    if info.duration_s is None and kbps:
        duration = source_bytes * 8 / (kbps * 1000)
        return replace(info, duration_s=duration, bitrate_kbps=kbps, duration_estimated=True)
    if info.bitrate_kbps is None and info.duration_s:
        return replace(info, bitrate_kbps=int(source_bytes * 8 / info.duration_s / 1000))
    return info


def parse_report(report: str) -> ProbeInfo:
    head = INPUT.search(report)
    if head is None:
        raise CorruptMedia(f"ffmpeg cannot read this file: {_last_line(report)}")
    duration = DURATION.search(report)
    bitrate = BITRATE.search(report)
    video = audio = None
    for kind, description in STREAM.findall(report):
        if kind == "Video" and video is None and "attached pic" not in description:
            video = _video(description, report)
        elif kind == "Audio" and audio is None:
            audio = _audio(description)
    return ProbeInfo(
        container=head.group(1),
        duration_s=_seconds(duration) if duration else None,
        bitrate_kbps=int(bitrate.group(1)) if bitrate else None,
        video=video,
        audio=audio,
        streams_kbps=_streams_kbps(report),
    )


def _streams_kbps(report: str) -> int | None:
    """The streams' own bitrates, summed (through a pipe ffmpeg may give no overall one)."""
    rates = [STREAM_KBPS.findall(description)[-1:] for _, description in STREAM.findall(report)]
    return sum(int(rate) for found in rates for rate in found) or None


def _video(description: str, report: str) -> VideoStream:
    size = SIZE.search(description)
    fps = FPS.search(description)
    rotation = ROTATION.search(report)
    counter_clockwise = round(float(rotation.group(1))) if rotation else 0
    return VideoStream(
        codec=_codec(description),
        width=int(size.group(1)) if size else 0,
        height=int(size.group(2)) if size else 0,
        fps=float(fps.group(1)) if fps else None,
        rotation=(-counter_clockwise) % 360,
    )


def _audio(description: str) -> AudioStream:
    rate = RATE.search(description)
    fields = [part.strip() for part in description.split(",")]
    channels = next((CHANNEL_WORDS[f] for f in fields if f in CHANNEL_WORDS), None)
    if channels is None:
        counted = next((f for f in fields if f.endswith(" channels")), "")
        channels = int(counted.split()[0]) if counted else 1
    return AudioStream(
        codec=_codec(description), sample_rate=int(rate.group(1)) if rate else 0, channels=channels
    )


def _codec(description: str) -> str:
    return description.split(",")[0].split()[0]


def _seconds(match: re.Match[str]) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _last_line(report: str) -> str:
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
