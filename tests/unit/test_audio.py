"""Audio through the processing core: preview, audiowaveform JSON, metadata."""

from __future__ import annotations

import io
import json
import math
from array import array
from pathlib import Path

import pytest

from heavylift.jobs.spec import AudioPreviewStep, MediaKind, PipelineSpec, WaveformStep
from heavylift.media.process import WrongQueue, process_media
from heavylift.media.waveform import WaveformBuilder
from infra.samples import AUDIO_FORMATS, write_audio, write_video
from tests.unit.media_helpers import MemorySink, context_for, decodes_cleanly, describe, stream_for

SPEC = PipelineSpec()
SINE_PEAK = 32767 / 8  # lavfi's sine has amplitude 1/8


def run(path: Path, spec: PipelineSpec = SPEC) -> tuple[MemorySink, object]:
    sink = MemorySink()
    result = process_media(stream_for(path), spec, sink, context_for(path), MediaKind.AUDIO)
    return sink, result


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_every_format_gets_preview_waveform_and_metadata(fmt: str, tmp_path: Path) -> None:
    source = write_audio(tmp_path, fmt, seconds=3, sample_rate=44100)
    sink, result = run(source)
    assert set(sink.files) == {"preview.mp3", "waveform.json", "metadata.json"}
    assert "Audio: mp3" in describe(sink.files["preview.mp3"], tmp_path)
    assert decodes_cleanly(sink.files["preview.mp3"], tmp_path)

    waveform = json.loads(sink.files["waveform.json"])
    rate = 48000 if fmt == "opus" else 44100  # Opus always decodes at 48 kHz
    assert {
        k: waveform[k] for k in ("version", "channels", "sample_rate", "samples_per_pixel", "bits")
    } == {"version": 2, "channels": 1, "sample_rate": rate, "samples_per_pixel": 256, "bits": 8}
    assert len(waveform["data"]) == 2 * waveform["length"]
    assert abs(waveform["length"] - 3 * rate / 256) < 3 * rate / 256 * 0.02
    minima, maxima = waveform["data"][0::2], waveform["data"][1::2]
    assert all(lo <= hi for lo, hi in zip(minima, maxima, strict=True))
    middle = len(maxima) // 2  # away from encoder padding at the edges
    assert abs(max(maxima[middle - 50 : middle + 50]) - SINE_PEAK / 256) <= 2
    assert abs(min(minima[middle - 50 : middle + 50]) + SINE_PEAK / 256) <= 2

    metadata = result.metadata  # type: ignore[attr-defined]
    assert metadata.media_type == "audio" and metadata.channels == 1
    # raw ADTS has no duration field: ffmpeg estimates it from the bitrate
    tolerance = 0.25 if fmt == "aac" else 0.1
    assert metadata.sample_rate == rate and abs(metadata.duration_s - 3) < tolerance
    assert (
        metadata.codec
        in {
            "mp3": "mp3",
            "m4a": "aac",
            "aac": "aac",
            "wav": "pcm_s16le",
            "flac": "flac",
            "opus": "opus",
        }[fmt]
    )


def test_opus_preview_and_16_bit_waveform(tmp_path: Path) -> None:
    spec = PipelineSpec(
        audio=(
            AudioPreviewStep(format="opus", kbps=48),
            WaveformStep(samples_per_pixel=512, bits=16),
        )
    )
    sink, _ = run(write_audio(tmp_path, "wav"), spec)
    assert set(sink.files) == {"preview.opus", "waveform.json"}
    assert "Audio: opus" in describe(sink.files["preview.opus"], tmp_path)
    waveform = json.loads(sink.files["waveform.json"])
    assert waveform["bits"] == 16 and waveform["samples_per_pixel"] == 512
    assert abs(max(waveform["data"]) - SINE_PEAK) < SINE_PEAK * 0.02


def test_video_on_the_audio_queue_asks_to_move(tmp_path: Path) -> None:
    with pytest.raises(WrongQueue) as move:
        run(write_video(tmp_path, "webm", seconds=1))
    assert move.value.kind is MediaKind.VIDEO


def test_waveform_builder_windows_and_scaling() -> None:
    """min/max per window, the last partial window kept, 16-bit values scaled to 8 bits."""
    samples = array("h", [int(10000 * math.sin(i / 10)) for i in range(1000)])
    builder = WaveformBuilder(8000, samples_per_pixel=256, bits=8)
    raw = samples.tobytes()
    for start in range(0, len(raw), 333):  # odd-sized chunks split samples in half
        builder.feed(raw[start : start + 333])
    builder.finish()
    assert builder.length == 4  # 3 whole windows + 1 partial
    expected = []
    for start in range(0, 1000, 256):
        window = samples[start : start + 256]
        expected += [min(window) >> 8, max(window) >> 8]
    out = io.BytesIO()
    builder.write_json(out)
    assert json.loads(out.getvalue())["data"] == expected
