"""Audio: one ffmpeg run makes the preview (MP3 or Opus) and, on a side pipe, the mono PCM
the waveform is computed from; ``metadata.json`` describes the source."""

from __future__ import annotations

import time

from heavylift.errors import TooLarge, UnsupportedMedia
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.ffmpeg import SideConsumer, run_ffmpeg
from heavylift.media.isobmff import index_comes_first, is_iso_bmff
from heavylift.media.probe import ProbeInfo, probe
from heavylift.media.sink import OutputSink, Writable, write_json
from heavylift.media.sniff import Sniffed
from heavylift.media.stream import SourceStream
from heavylift.media.waveform import WaveformBuilder
from heavylift.models import AudioMetadata, OutputEntry
from heavylift.spec import AudioPreviewStep, MetadataStep, PipelineSpec, WaveformStep

HEAD_BYTES = 64 * 1024
PREVIEW_FORMATS = {  # step format -> (file name, content type, ffmpeg arguments)
    "mp3": ("preview.mp3", "audio/mpeg", ["-c:a", "libmp3lame", "-f", "mp3"]),
    "opus": ("preview.opus", "audio/ogg; codecs=opus", ["-c:a", "libopus", "-f", "ogg"]),
}


def source_input(stream: SourceStream, ctx: MediaContext) -> tuple[bool, str]:
    """(read by URL?, the presigned URL). MP4/MOV/M4A with the index at the end need seeking."""
    head = stream.peek(HEAD_BYTES)
    return is_iso_bmff(head) and not index_comes_first(head), ctx.source_url()


def check_duration(info: ProbeInfo, ctx: MediaContext) -> None:
    if info.duration_s is not None and info.duration_s > ctx.max_duration_s:
        raise TooLarge(f"{info.duration_s:.0f} s long, limit is {ctx.max_duration_s:.0f} s")


def process_audio(
    stream: SourceStream, sniffed: Sniffed, spec: PipelineSpec, sink: OutputSink, ctx: MediaContext
) -> MediaResult:
    by_url, url = source_input(stream, ctx)
    info = probe(url, timeout_s=max(1.0, min(120.0, ctx.deadline - time.monotonic())))
    return process_audio_stream(stream, info, by_url, url, spec, sink, ctx)


def process_audio_stream(
    stream: SourceStream,
    info: ProbeInfo,
    by_url: bool,
    url: str,
    spec: PipelineSpec,
    sink: OutputSink,
    ctx: MediaContext,
) -> MediaResult:
    if info.audio is None:
        raise UnsupportedMedia("no audio stream")
    check_duration(info, ctx)
    preview = next((s for s in spec.audio if isinstance(s, AudioPreviewStep)), None)
    wave = next((s for s in spec.audio if isinstance(s, WaveformStep)), None)
    builder = (
        WaveformBuilder(info.audio.sample_rate, wave.samples_per_pixel, wave.bits) if wave else None
    )
    side: dict[str, SideConsumer] = {"pcm": builder.consume} if builder else {}

    def args(pipes: dict[str, str]) -> list[str]:
        argv = ["-i", url if by_url else "pipe:0"]
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

    feed = None if by_url else stream
    outputs: list[OutputEntry] = []
    if preview is not None:
        name, content_type, _ = PREVIEW_FORMATS[preview.format]

        def produce(out: Writable) -> None:
            run_ffmpeg(
                args,
                side=side,
                feed=feed,
                stdout=out,
                deadline=ctx.deadline,
                duration_s=info.duration_s,
                on_progress=ctx.report_progress,
            )

        outputs.append(sink.write(name, content_type, produce))
    elif builder is not None:
        run_ffmpeg(
            args,
            side=side,
            feed=feed,
            deadline=ctx.deadline,
            duration_s=info.duration_s,
            on_progress=ctx.report_progress,
        )
    if builder is not None:
        outputs.append(sink.write("waveform.json", "application/json", builder.write_json))
    if not by_url:
        stream.drain()
    metadata = AudioMetadata(
        container=info.container.split(",")[0],
        duration_s=info.duration_s,
        codec=info.audio.codec,
        sample_rate=info.audio.sample_rate,
        channels=info.audio.channels,
        bitrate_kbps=info.bitrate_kbps,
        bytes=ctx.source_bytes,
        sha256=None if by_url else stream.sha256,
    )
    if any(isinstance(s, MetadataStep) for s in spec.audio):
        outputs.append(write_json(sink, "metadata.json", metadata))
    return MediaResult(outputs, metadata)
