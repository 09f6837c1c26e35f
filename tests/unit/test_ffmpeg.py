"""The ffmpeg runner's failure handling, its inputs, and the probe parser."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from heavylift.errors import CorruptMedia, JobTimeout, StorageUnavailable, TooLarge
from heavylift.media.ffmpeg import run_ffmpeg
from heavylift.media.ffmpeg_input import location_input, stdin_input
from heavylift.media.probe import completed, parse_report
from heavylift.media.redact import redact
from heavylift.media.stream import SourceStream
from infra.samples import write_video

SLOW_ENCODE = ["-c:v", "libx264", "-preset", "veryslow", "-f", "null", "-"]
TO_NULL = ["-f", "null", "-"]


@pytest.fixture(scope="module")
def long_mkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("long"), "mkv", seconds=10, size="1280x720")


def test_the_deadline_kills_a_runaway_encode_quickly(long_mkv: Path) -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeout):
        run_ffmpeg(
            lambda pipes: SLOW_ENCODE,
            source=location_input("matroska", str(long_mkv)),
            deadline=time.monotonic() + 1.0,
        )
    assert time.monotonic() - started < 5


def test_media_longer_than_the_limit_is_stopped_as_too_large(long_mkv: Path) -> None:
    """Some inputs (Ogg, live WebM) declare no duration: the run itself enforces it."""
    with pytest.raises(TooLarge):
        run_ffmpeg(
            lambda pipes: TO_NULL,
            source=location_input("matroska", str(long_mkv)),
            deadline=time.monotonic() + 60,
            max_duration_s=2,
        )


def test_a_run_reports_the_media_time_it_reached(long_mkv: Path) -> None:
    finished = run_ffmpeg(
        lambda pipes: TO_NULL,
        source=location_input("matroska", str(long_mkv)),
        deadline=time.monotonic() + 60,
    )
    assert finished.out_time_s is not None and abs(finished.out_time_s - 10) < 0.2


def test_inputs_come_only_from_ffmpeg_input(long_mkv: Path) -> None:
    """An input built anywhere else would have no whitelists: refused before ffmpeg runs."""
    with pytest.raises(ValueError):
        run_ffmpeg(
            lambda pipes: ["-i", "concat:a|b", *TO_NULL],
            source=location_input("matroska", str(long_mkv)),
            deadline=time.monotonic() + 60,
        )
    with pytest.raises(ValueError):  # stdin with nothing to feed it
        run_ffmpeg(lambda pipes: TO_NULL, source=stdin_input("mp3"), deadline=time.monotonic() + 9)


def test_input_arguments_name_one_demuxer_and_the_needed_protocols() -> None:
    assert stdin_input("mp4").args() == [
        *("-f", "mov", "-format_whitelist", "mov", "-protocol_whitelist", "pipe"),
        *("-enable_drefs", "0", "-i", "pipe:0"),
    ]
    assert location_input("webm", "/spool/x").args("-threads", "1") == [
        *("-f", "matroska", "-format_whitelist", "matroska", "-protocol_whitelist", "file"),
        *("-threads", "1", "-i", "file:/spool/x"),
    ]
    https = location_input("mp3", "https://b.s3.amazonaws.com/k?X-Amz-Signature=s")
    assert https.protocols == "https,tls,tcp" and https.demuxer == "mp3"
    assert location_input("ogg", "http://127.0.0.1:9000/b/k").protocols == "http,tcp"
    with pytest.raises(ValueError):
        location_input("mp3", "concat:/a|/b")


def test_errors_name_no_url_or_path() -> None:
    url = "https://bucket.s3.amazonaws.com/u/IMG.MOV?X-Amz-Signature=abc"
    source = location_input("mov", url)
    text = (
        f"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8b9e040] moov atom not found\n"
        f"Error opening input file {url}.\n[in#0] Error opening {'file:/tmp/heavylift-x/source'}"
    )
    cleaned = source.redact(text)
    assert "amazonaws" not in cleaned and "X-Amz" not in cleaned and "/tmp" not in cleaned
    assert "moov atom not found" in cleaned and "0x55d0" not in cleaned
    assert redact("open http://169.254.169.254/latest/meta-data/ failed") == "open <source> failed"


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
            lambda pipes: TO_NULL,
            source=stdin_input("matroska"),
            feed=feed,
            deadline=time.monotonic() + 60,
        )


def test_garbage_input_is_corrupt_media() -> None:
    feed = SourceStream(io.BytesIO(b"\x1a\x45\xdf\xa3" + b"\x00" * 5000), max_bytes=10**9)
    with pytest.raises(CorruptMedia):
        run_ffmpeg(
            lambda pipes: TO_NULL,
            source=stdin_input("matroska"),
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


def test_a_pipe_probe_without_duration_gets_one_from_size_and_bitrate() -> None:
    """Through a pipe ffmpeg knows no file size: for MP3 without a header it gives no
    duration, so the source size and the bitrate give it, as ffmpeg does for files."""
    info = parse_report(
        "Input #0, mp3, from 'pipe:0':\n  Duration: N/A, start: 0.025057, bitrate: 128 kb/s\n"
        "  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, mono, fltp, 128 kb/s\n"
    )
    assert info.duration_s is None
    estimated = completed(info, 48_000)
    assert estimated.duration_s == 3.0 and estimated.duration_estimated
    mkv = parse_report(
        "Input #0, matroska,webm, from 'pipe:0':\n  Duration: 00:00:02.00, bitrate: N/A\n"
        "  Stream #0:0: Video: h264, yuv420p, 640x360, 30 fps\n"
    )
    assert completed(mkv, 500_000).bitrate_kbps == 2000  # and the bitrate from the duration
