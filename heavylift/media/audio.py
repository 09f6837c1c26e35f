"""Audio: one ffmpeg run makes the preview (MP3 or Opus) and, on a side pipe, the mono PCM
the waveform is computed from; ``metadata.json`` describes the source."""

from __future__ import annotations

from heavylift.errors import UnsupportedMedia
from heavylift.jobs.models import AudioMetadata, OutputEntry
from heavylift.jobs.spec import AudioPreviewStep, MetadataStep, PipelineSpec, WaveformStep
from heavylift.media.avsource import (
    AVSource,
    check_duration,
    measured,
    open_av_source,
)
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.ffmpeg import SideConsumer, run_ffmpeg
from heavylift.media.sink import OutputSink, Writable, write_json
from heavylift.media.sniff import Sniffed
from heavylift.media.stream import SourceStream
from heavylift.media.waveform import WaveformBuilder

PREVIEW_FORMATS = {  # step format -> (file name, content type, ffmpeg arguments)
    "mp3": ("preview.mp3", "audio/mpeg", ["-c:a", "libmp3lame", "-f", "mp3"]),
    "opus": ("preview.opus", "audio/ogg; codecs=opus", ["-c:a", "libopus", "-f", "ogg"]),
}


def audio_outputs(
    stream: SourceStream, sniffed: Sniffed, spec: PipelineSpec, sink: OutputSink, ctx: MediaContext
) -> MediaResult:
    return audio_outputs_of(stream, open_av_source(stream, sniffed, ctx), spec, sink, ctx)


def audio_outputs_of(
    stream: SourceStream,
    source: AVSource,
    spec: PipelineSpec,
    sink: OutputSink,
    ctx: MediaContext,
) -> MediaResult:
    info = source.info
    audio = info.audio
    if audio is None:
        raise UnsupportedMedia("no audio stream")
    check_duration(info, ctx)
    preview = next((s for s in spec.audio if isinstance(s, AudioPreviewStep)), None)
    wave = next((s for s in spec.audio if isinstance(s, WaveformStep)), None)
    builder = (
        WaveformBuilder(audio.sample_rate, wave.samples_per_pixel, wave.bits) if wave else None
    )
    side: dict[str, SideConsumer] = {"pcm": builder.consume} if builder else {}

    def args(pipes: dict[str, str]) -> list[str]:
        argv: list[str] = []
        if preview is not None:
            argv += [
                "-map",
                "0:a:0",
                "-vn",
                "-b:a",
                f"{preview.kbps}k",
                *PREVIEW_FORMATS[preview.format][2],
                "pipe:1",
            ]
        if builder is not None:
            argv += [
                "-map",
                "0:a:0",
                "-vn",
                "-ac",
                "1",
                "-c:a",
                "pcm_s16le",
                "-f",
                "s16le",
                pipes["pcm"],
            ]
        return argv

    outputs: list[OutputEntry] = []
    reached: float | None = None  # media time the run reached: the real duration

    def run(out: Writable | None) -> None:
        nonlocal reached
        reached = run_ffmpeg(
            args,
            source=source.input,
            side=side,
            feed=source.feed,
            stdout=out,
            deadline=ctx.deadline,
            duration_s=info.duration_s,
            max_duration_s=ctx.max_duration_s,
            on_progress=ctx.report_progress,
        ).out_time_s

    if preview is not None:
        name, content_type, _ = PREVIEW_FORMATS[preview.format]
        outputs.append(sink.write(name, content_type, run))
    elif builder is not None:
        run(None)
    if builder is not None:
        outputs.append(sink.write("waveform.json", "application/json", builder.write_json))
    if not source.by_location:
        stream.drain()
    final = measured(info, reached, ctx.source_bytes)
    metadata = AudioMetadata(
        container=info.container.split(",")[0],
        duration_s=final.duration_s,
        codec=audio.codec,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        bitrate_kbps=final.bitrate_kbps,
        bytes=ctx.source_bytes,
        sha256=None if source.by_location else stream.sha256,
    )
    if any(isinstance(s, MetadataStep) for s in spec.audio):
        outputs.append(write_json(sink, "metadata.json", metadata))
    return MediaResult(outputs, metadata)
