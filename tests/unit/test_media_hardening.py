"""The security review's holes, one test each, in the processing core.

* The sniffer walks structure, so a manifest dressed in a few magic bytes is not media.
* ffmpeg opens every input with one named demuxer and only the protocol that input needs,
  so even a payload that got past the sniffer cannot reach the network or another file.
* libvips runs only the loaders of accepted formats, the loader must match the sniffed
  format, and a decode has a time limit.
* Errors never carry the source's URL or path; probing reads the bytes already in hand.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pyvips

from heavylift.errors import CorruptMedia, JobTimeout, TooLarge, UnsupportedMedia
from heavylift.jobs.models import AudioMetadata, VideoMetadata
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.media import image as image_module
from heavylift.media import process as process_module
from heavylift.media.image import decode_image
from heavylift.media.process import process_media
from heavylift.media.sniff import SNIFF_BYTES, ImageFormat, Sniffed, sniff
from heavylift.media.stream import SourceStream
from infra.samples import (
    AUDIO_FORMATS,
    VIDEO_CONTAINERS,
    photo_like,
    write_audio,
    write_video,
)
from tests.crafted_media import (
    DISGUISES,
    KINDS,
    SVG_DISGUISES,
    LoopbackTrap,
    OpenWatch,
    Site,
    crafted,
    png_bomb,
    svg_disguised,
    svg_document,
)
from tests.unit.media_helpers import MemorySink, context_for, stream_for

NAMED = (UnsupportedMedia, CorruptMedia)
SPEC = PipelineSpec.default((256,), 80)
CASES = [(kind, disguise) for kind in KINDS for disguise in DISGUISES]
SNIFFED_AS = {  # what a disguise pretends to be, as the old sniffer took it
    "mov": Sniffed(MediaKind.VIDEO, "mov"),
    "mp4": Sniffed(MediaKind.VIDEO, "mp4"),
    "mkv": Sniffed(MediaKind.VIDEO, "matroska"),
    "mp3": Sniffed(MediaKind.AUDIO, "mp3"),
}


@pytest.fixture(scope="module")
def trap() -> Iterator[LoopbackTrap]:
    listener = LoopbackTrap()
    yield listener
    listener.close()


@pytest.fixture
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenWatch]:
    path = write_video(tmp_path_factory.mktemp("outside-spool"), "mp4", seconds=1, name="private")
    watch = OpenWatch(path)
    yield watch
    watch.close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


def assert_not_media(data: bytes) -> None:
    """The sniffer calls ``data`` nothing (unsupported) or raises a named error, with or
    without knowing the file's size."""
    for total in (None, len(data)):
        try:
            assert sniff(data[:SNIFF_BYTES], total) is None
        except NAMED:
            pass


# --- the sniffer ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}.{c[1]}")
def test_a_manifest_dressed_as_media_is_not_media(case: tuple[str, str]) -> None:
    assert_not_media(
        crafted(*case, ["http://169.254.169.254/latest/meta-data/", "file:/etc/passwd"])
    )


@pytest.mark.parametrize("disguise", sorted(SVG_DISGUISES))
def test_an_svg_dressed_as_an_image_is_not_an_image(disguise: str) -> None:
    assert_not_media(svg_disguised(disguise))


def test_real_video_and_audio_still_sniff(tmp_path: Path) -> None:
    expected = {
        "mp4": "mp4",
        "mp4-moov-at-end": "mp4",
        "mov": "mov",
        "mkv": "matroska",
        "webm": "webm",
    }
    for container in VIDEO_CONTAINERS:
        data = write_video(tmp_path / container, container, seconds=1).read_bytes()
        for total in (None, len(data)):
            assert sniff(data[:SNIFF_BYTES], total) == Sniffed(MediaKind.VIDEO, expected[container])
    audio = {"mp3": "mp3", "m4a": "m4a", "aac": "aac", "wav": "wav", "flac": "flac", "opus": "ogg"}
    for fmt in AUDIO_FORMATS:
        data = write_audio(tmp_path / fmt, fmt, seconds=1).read_bytes()
        for total in (None, len(data)):
            assert sniff(data[:SNIFF_BYTES], total) == Sniffed(MediaKind.AUDIO, audio[fmt])


# --- ffmpeg, even when a payload gets past the sniffer ----------------------------------


def slip_past_the_sniffer(monkeypatch: pytest.MonkeyPatch, sniffed: Sniffed) -> None:
    monkeypatch.setattr(process_module, "sniff", lambda *args, **kwargs: sniffed)


def run_media(path: Path, kind: MediaKind, **context: Any) -> MemorySink:
    sink = MemorySink()
    ctx = replace(context_for(path), **context)
    process_media(stream_for(path), SPEC, sink, ctx, kind)
    return sink


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}.{c[1]}")
def test_a_local_manifest_past_the_sniffer_opens_no_other_file(
    case: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sentinel: OpenWatch,
    trap: LoopbackTrap,
) -> None:
    """A URL source is a spool file: its references must not reach the worker's disk."""
    sniffed = SNIFFED_AS[case[1]]
    path = tmp_path / f"source.{case[1]}"
    path.write_bytes(crafted(*case, [f"file:{sentinel.path}", trap.url()]))
    slip_past_the_sniffer(monkeypatch, sniffed)
    hits = trap.hits
    with pytest.raises(NAMED):
        run_media(path, sniffed.kind)
    assert sentinel.count() == 0
    assert trap.hits == hits


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}.{c[1]}")
def test_a_remote_manifest_past_the_sniffer_requests_nothing(
    case: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    site: Site,
    trap: LoopbackTrap,
) -> None:
    """An S3 source may be read through a presigned http URL: its references must not be."""
    sniffed = SNIFFED_AS[case[1]]
    data = crafted(*case, [trap.url(), "file:/etc/hostname"])
    path = tmp_path / f"source.{case[1]}"
    path.write_bytes(data)
    url = site.serve(f"{case[0]}-{time.monotonic_ns()}.{case[1]}", data) + "?X-Amz-Signature=s"
    slip_past_the_sniffer(monkeypatch, sniffed)
    hits = trap.hits
    with pytest.raises(NAMED) as failure:
        run_media(path, sniffed.kind, source_url=lambda: url)
    assert trap.hits == hits, trap.requests
    assert str(site.port) not in failure.value.message and "X-Amz" not in failure.value.message


def test_a_container_inside_another_ones_boxes_fails_named(tmp_path: Path) -> None:
    """Valid MP4 boxes around a Matroska file: ffmpeg is told mov, so it never reads the
    Matroska inside, and the job fails with a name instead of processing it."""
    mkv = write_video(tmp_path, "mkv", seconds=1).read_bytes()
    ftyp = b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom"
    path = tmp_path / "wrapped.mp4"
    path.write_bytes(ftyp + (8 + len(mkv)).to_bytes(4, "big") + b"mdat" + mkv)
    assert sniff(path.read_bytes()[:SNIFF_BYTES]) == Sniffed(MediaKind.VIDEO, "mp4")
    with pytest.raises(NAMED):
        run_media(path, MediaKind.VIDEO)


# --- libvips ---------------------------------------------------------------------------


def test_only_the_loaders_of_accepted_formats_can_run() -> None:
    """SVG (and every other format Heavylift does not accept) cannot be loaded at all."""
    assert image_module is not None  # importing it sets the blocks
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(svg_document(), "")
    with pytest.raises(pyvips.Error):
        pyvips.Image.svgload_buffer(svg_document())
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(b"P2\n2 2\n255\n0 0 0 0\n", "")  # PGM, also not ours
    for suffix in (".jpg", ".png", ".webp", ".gif", ".tif", ".avif"):  # savers and loaders
        data = photo_like(32, 24).write_to_buffer(suffix)
        assert pyvips.Image.new_from_buffer(data, "").width == 32


@pytest.mark.parametrize("disguise", sorted(SVG_DISGUISES))
def test_an_svg_past_the_sniffer_is_refused(disguise: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pretends = {"avif": ImageFormat.AVIF, "png": ImageFormat.PNG}[disguise]
    monkeypatch.setattr(image_module, "sniff_image", lambda *args, **kwargs: pretends)
    data = svg_disguised(disguise)
    with pytest.raises(NAMED):
        decode_image(SourceStream(io.BytesIO(data), 10**9), 256, 10**8)


@pytest.mark.parametrize(
    ("real", "pretends"),
    [
        (".png", ImageFormat.JPEG),
        (".jpg", ImageFormat.PNG),
        (".gif", ImageFormat.WEBP),
        (".webp", ImageFormat.TIFF),
        (".tif", ImageFormat.AVIF),
        (".png", ImageFormat.GIF),
    ],
)
def test_the_loader_must_match_the_sniffed_format(
    real: str, pretends: ImageFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_module, "sniff_image", lambda *args, **kwargs: pretends)
    data = photo_like(64, 48).write_to_buffer(real)
    with pytest.raises(NAMED):
        decode_image(SourceStream(io.BytesIO(data), 10**9), 256, 10**8)


def jpeg_bomb(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) claims ``width`` × ``height``."""
    data = bytearray(photo_like(64, 48).write_to_buffer(".jpg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize(
    "bomb",
    [png_bomb(60_000, 60_000), png_bomb(1_000_000, 200), jpeg_bomb(65_000, 65_000)],
    ids=["png-square", "png-wide", "jpeg"],
)
def test_an_image_bomb_is_too_large(bomb: bytes) -> None:
    """Huge declared dimensions fail from the header, before a pixel is decoded."""
    with pytest.raises(TooLarge):
        decode_image(SourceStream(io.BytesIO(bomb), 10**9), 1024, 100_000_000)


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """64 MP of a pattern: small to store, a few tenths of a second to decode."""
    xyz = pyvips.Image.xyz(8000, 8000)
    return (xyz[0] * 7 + xyz[1] * 3).cast("uchar").write_to_buffer(".png", compression=1)


def test_a_decode_past_its_time_limit_is_stopped(big_png: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeout):
        decode_image(SourceStream(io.BytesIO(big_png), 10**9), 8000, 10**8, max_decode_s=0.01)
    assert time.monotonic() - started < 3
    decoded = decode_image(SourceStream(io.BytesIO(big_png), 10**9), 8000, 10**8, max_decode_s=60)
    assert decoded.base.width == 8000  # within the limit the same image decodes


# --- probing and error messages ----------------------------------------------------------


def no_url() -> str:
    raise AssertionError("a streaming input was read a second time, by URL")


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("video", "mkv"),
        ("video", "webm"),
        ("video", "mp4"),
        ("audio", "mp3"),
        ("audio", "wav"),
        ("audio", "flac"),
        ("audio", "opus"),
        ("audio", "aac"),
    ],
)
def test_a_streaming_input_is_probed_from_the_bytes_already_read(
    kind: str, fmt: str, tmp_path: Path
) -> None:
    if kind == "video":
        source, media_kind = write_video(tmp_path, fmt, seconds=2), MediaKind.VIDEO
    else:
        source, media_kind = write_audio(tmp_path, fmt, seconds=2), MediaKind.AUDIO
    ctx = replace(context_for(source), source_url=no_url)
    result = process_media(stream_for(source), PipelineSpec(), MemorySink(), ctx, media_kind)
    assert isinstance(result.metadata, VideoMetadata | AudioMetadata)
    duration = result.metadata.duration_s
    assert duration is not None and abs(duration - 2) < 0.25


class RecordingPopen(subprocess.Popen):  # type: ignore[type-arg]
    calls: list[list[str]] = []

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        RecordingPopen.calls.append([str(a) for a in args])
        super().__init__(args, *rest, **kwargs)


def test_every_ffmpeg_input_names_its_demuxer_and_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe, pipe, file and the strict re-encode: each -i follows -f, -format_whitelist
    and -protocol_whitelist, and the protocol is the one its target needs."""
    from heavylift.media import video

    mkv = write_video(tmp_path / "a", "mkv", seconds=1, video_bitrate="150k")
    mp4 = write_video(tmp_path / "b", "mp4-moov-at-end", seconds=1)
    mp3 = write_audio(tmp_path / "c", "mp3", seconds=1)
    planned = video.plan_bitrates
    calls: list[object] = []

    def oversize_first(*args: Any) -> video.Bitrates:
        calls.append(args)
        return video.Bitrates(20_000, 320) if len(calls) == 1 else planned(*args)

    monkeypatch.setattr(video, "plan_bitrates", oversize_first)
    RecordingPopen.calls = []
    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    run_media(mkv, MediaKind.VIDEO)  # piped, then re-encoded from its file (strict path)
    run_media(mp4, MediaKind.VIDEO)  # index at the end: probed and read from its file
    run_media(mp3, MediaKind.AUDIO)
    inputs = 0
    for argv in RecordingPopen.calls:
        for at, arg in enumerate(argv):
            if arg != "-i":
                continue
            inputs += 1
            before, target = argv[:at], argv[at + 1]
            demuxer = before[before.index("-f") + 1]
            assert before[before.index("-format_whitelist") + 1] == demuxer
            protocols = before[before.index("-protocol_whitelist") + 1]
            if target.startswith("pipe:"):
                assert protocols == "pipe"
            elif target.startswith(("http:", "https:")):
                assert set(protocols.split(",")) <= {"http", "https", "tls", "tcp"}
            else:
                assert protocols == "file", argv
    assert inputs >= 6


# --- the source stream -------------------------------------------------------------------


class Trickle(io.BytesIO):
    """Short reads, like a socket."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(64 if size is None or size < 0 else min(size, 64))


def test_peek_is_capped() -> None:
    """Peeked bytes live in memory: a caller cannot make that grow with the file."""
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    stream = SourceStream(io.BytesIO(data), max_bytes=len(data))
    assert len(stream.peek(len(data))) < len(data)
    stream.drain()
    assert stream.bytes_read == len(data)


def test_peeking_and_reading_a_big_head_in_small_pieces_is_linear() -> None:
    data = bytes(range(256)) * (8 * 1024)  # 2 MiB in 64-byte reads
    stream = SourceStream(Trickle(data), max_bytes=len(data))
    started = time.monotonic()
    head = stream.peek(2 * 1024 * 1024)
    chunks = [head[:0]]
    while chunk := stream.read(4096):
        chunks.append(chunk)
    assert b"".join(chunks) == data
    assert time.monotonic() - started < 2
