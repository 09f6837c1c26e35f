"""Video through the processing core: poster, preview, metadata, limits, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from heavylift.errors import CorruptMedia, TooLarge
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.media.process import WrongQueue, process_media
from infra.samples import VIDEO_CONTAINERS, write_video
from tests.unit.media_helpers import (
    MemorySink,
    context_for,
    decodes_cleanly,
    describe,
    stream_for,
    top_level_boxes,
)

SPEC = PipelineSpec.default((256, 1024), 80)


def run(path: Path, **context: object) -> tuple[MemorySink, object]:
    sink = MemorySink()
    result = process_media(
        stream_for(path),
        SPEC,
        sink,
        context_for(path, **context),  # type: ignore[arg-type]
        MediaKind.VIDEO,
    )
    return sink, result


@pytest.mark.parametrize("container", sorted(VIDEO_CONTAINERS))
def test_every_container_gets_poster_preview_and_metadata(container: str, tmp_path: Path) -> None:
    source = write_video(tmp_path, container, seconds=2)
    sink, result = run(source)
    assert set(sink.files) == {
        "poster.jpg",
        "thumb-256.webp",
        "thumb-1024.webp",
        "preview.mp4",
        "metadata.json",
    }
    preview = sink.files["preview.mp4"]
    report = describe(preview, tmp_path)
    assert "Video: h264" in report and "Audio: aac" in report
    assert len(preview) <= source.stat().st_size
    assert top_level_boxes(preview)[:2] == ["ftyp", "moov"]  # index first: plays while loading
    assert "moof" in top_level_boxes(preview)  # fragmented: written as produced
    assert decodes_cleanly(preview, tmp_path)
    poster = pyvips.Image.new_from_buffer(sink.files["poster.jpg"], "")
    assert (poster.width, poster.height) == (640, 360)
    thumb = pyvips.Image.new_from_buffer(sink.files["thumb-256.webp"], "")
    assert (thumb.width, thumb.height) == (256, 144)
    metadata = result.metadata  # type: ignore[attr-defined]
    assert metadata.media_type == "video" and metadata.video_codec in ("h264", "vp8")
    assert abs(metadata.duration_s - 2) < 0.1 and metadata.fps == 30
    assert (metadata.width, metadata.height, metadata.rotation) == (640, 360, 0)
    assert metadata.bytes == source.stat().st_size
    # MP4/MOV with the index at the end are read by URL (ffmpeg saw the bytes, we did not);
    # everything else streams through the worker, which hashes it on the way
    moov_at_end = container in ("mp4-moov-at-end", "mov")
    assert (metadata.sha256 is None) == moov_at_end


def test_a_phone_video_comes_out_upright(tmp_path: Path) -> None:
    source = write_video(tmp_path, "mov", seconds=2, size="640x360", rotation=-90)
    sink, result = run(source)
    metadata = result.metadata  # type: ignore[attr-defined]
    assert (metadata.width, metadata.height, metadata.rotation) == (360, 640, 90)
    poster = pyvips.Image.new_from_buffer(sink.files["poster.jpg"], "")
    assert (poster.width, poster.height) == (360, 640)
    report = describe(sink.files["preview.mp4"], tmp_path)
    assert "360x640" in report and "rotation" not in report.lower()  # turned, not flagged


def test_preview_is_at_most_720p_and_never_enlarged(tmp_path: Path) -> None:
    big = write_video(tmp_path, "mp4", seconds=1, size="1920x1080", name="big")
    assert "1280x720" in describe(run(big)[0].files["preview.mp4"], tmp_path)
    small = write_video(tmp_path, "mp4", seconds=1, size="320x240", name="small")
    assert "320x240" in describe(run(small)[0].files["preview.mp4"], tmp_path)


def test_preview_never_has_more_bytes_than_a_starved_source(tmp_path: Path) -> None:
    source = write_video(tmp_path, "mp4", seconds=3, size="640x360", video_bitrate="60k")
    sink, _ = run(source)
    assert len(sink.files["preview.mp4"]) <= source.stat().st_size
    assert decodes_cleanly(sink.files["preview.mp4"], tmp_path)


def test_progress_is_reported_while_encoding(tmp_path: Path) -> None:
    source = write_video(tmp_path, "mkv", seconds=4)
    seen: list[float] = []
    run(source, progress=seen)
    assert seen and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)
    assert seen[-1] > 0.5


def test_limits_fail_with_too_large(tmp_path: Path) -> None:
    source = write_video(tmp_path, "mp4", seconds=3)
    with pytest.raises(TooLarge, match="long"):
        run(source, max_duration_s=2)
    with pytest.raises(TooLarge, match="pixels"):
        run(source, max_pixels=640 * 360 - 1)


def test_a_truncated_video_is_corrupt(tmp_path: Path) -> None:
    source = write_video(tmp_path, "mkv", seconds=2)
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(source.read_bytes()[:300])
    with pytest.raises(CorruptMedia):
        run(broken)


def test_audio_on_the_video_queue_asks_to_move(tmp_path: Path) -> None:
    from infra.samples import write_audio

    source = write_audio(tmp_path, "mp3")
    with pytest.raises(WrongQueue) as move:
        run(source)
    assert move.value.kind is MediaKind.AUDIO


def test_an_oversize_first_encode_is_redone_smaller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the capped encode still comes out bigger than the source, it is never uploaded:
    the preview is encoded again, from the URL, at a fixed lower bitrate."""
    from heavylift.media import video

    source = write_video(tmp_path, "mkv", seconds=2, video_bitrate="150k")
    planned = video.plan_bitrates
    calls = []

    def oversize_first(*args: object) -> video.Bitrates:
        calls.append(args)
        return video.Bitrates(20_000, 320) if len(calls) == 1 else planned(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(video, "plan_bitrates", oversize_first)
    sink, _ = run(source)
    assert len(sink.files["preview.mp4"]) <= source.stat().st_size
    assert decodes_cleanly(sink.files["preview.mp4"], tmp_path)
    assert "poster.jpg" in sink.files  # taken from the first pass
    assert len(calls) == 2  # the second, strict plan was used


def test_a_source_smaller_than_any_preview_gets_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source is its own preview; the job still succeeds with poster and metadata."""
    from heavylift.media import video

    class Oversized(video._Counting):  # every encode counts as far bigger than the source
        @property
        def bytes(self) -> int:
            return 10**12

        @bytes.setter
        def bytes(self, value: int) -> None:
            pass

    monkeypatch.setattr(video, "_Counting", Oversized)
    source = write_video(tmp_path, "mp4", seconds=1)
    sink = MemorySink()
    process_media(stream_for(source), SPEC, sink, context_for(source), MediaKind.VIDEO)
    assert "preview.mp4" not in sink.files
    assert {"poster.jpg", "thumb-256.webp", "metadata.json"} <= set(sink.files)
