"""The ffmpeg runner's failure handling, and the probe parser."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from heavylift.errors import CorruptMedia, JobTimeout, StorageUnavailable
from heavylift.media.ffmpeg import run_ffmpeg
from heavylift.media.probe import parse_report
from heavylift.media.stream import SourceStream
from heavylift.samples import write_video

ENDLESS = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=1280x720:rate=30",
    "-c:v",
    "libx264",
    "-preset",
    "medium",
    "-f",
    "null",
    "-",
]


def test_the_deadline_kills_a_runaway_encode_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeout):
        run_ffmpeg(lambda pipes: ENDLESS, deadline=time.monotonic() + 1.0)
    assert time.monotonic() - started < 5


class DroppingBody:
    """Serves the first bytes, then fails like a lost S3 connection."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.good = io.BytesIO(data), good

    def read(self, size: int = -1, /) -> bytes:
        if self.data.tell() >= self.good:
            raise StorageUnavailable("connection reset by peer")
        return self.data.read(min(size, self.good - self.data.tell()))


def test_a_source_that_fails_mid_stream_stays_a_storage_error(tmp_path: Path) -> None:
    data = write_video(tmp_path, "mkv", seconds=3).read_bytes()
    feed = SourceStream(DroppingBody(data, len(data) // 2), max_bytes=10**9)
    with pytest.raises(StorageUnavailable):
        run_ffmpeg(
            lambda pipes: ["-i", "pipe:0", "-f", "null", "-"],
            feed=feed,
            deadline=time.monotonic() + 60,
        )


def test_garbage_input_is_corrupt_media() -> None:
    feed = SourceStream(io.BytesIO(b"\x1a\x45\xdf\xa3" + b"\x00" * 5000), max_bytes=10**9)
    with pytest.raises(CorruptMedia):
        run_ffmpeg(
            lambda pipes: ["-i", "pipe:0", "-f", "null", "-"],
            feed=feed,
            deadline=time.monotonic() + 60,
        )


PHONE_REPORT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'https://bucket.s3.amazonaws.com/IMG_0001.MOV?X-Amz':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 15342 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 1920x1080, 15000 kb/s, 29.97 fps, 29.97 tbr, 600 tbn (default)
      Side data:
        displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 191 kb/s (default)
  Stream #0:2[0x3](und): Data: none (mebx / 0x7862656D), 0 kb/s (default)
At least one output file must be specified
"""


def test_probe_reads_a_phone_video_report() -> None:
    info = parse_report(PHONE_REPORT)
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration_s == 62.5 and info.bitrate_kbps == 15342
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 1920, 1080)
    assert info.video.rotation == 90 and info.video.display_size == (1080, 1920)
    assert info.video.fps == 29.97
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 2)


def test_probe_tolerates_unknown_duration_and_rejects_non_media() -> None:
    info = parse_report(
        "Input #0, matroska,webm, from 'pipe:0':\n  Duration: N/A, bitrate: N/A\n"
        "  Stream #0:0: Audio: opus, 48000 Hz, 5.1, fltp\n"
    )
    assert info.duration_s is None and info.bitrate_kbps is None and info.video is None
    assert info.audio is not None and info.audio.channels == 6
    with pytest.raises(CorruptMedia):
        parse_report("pipe:0: Invalid data found when processing input\n")
