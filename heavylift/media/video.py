"""Video: one ffmpeg run makes the poster frame and the preview; libvips makes the poster's
thumbnails (in the job's format); ``metadata.json`` describes the source.

The source streams into ffmpeg's stdin unless it is an MP4/MOV whose index (``moov``) comes
after the media data; those are read where they live (see ``avsource``). Either way no
worker holds the file: the preview is a fragmented MP4 written as it is produced (which
also lets a browser start playing it before it has downloaded), spooled in bounded memory
and uploaded in parts.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from heavylift.errors import TooLarge, UnsupportedMedia
from heavylift.jobs.models import OutputEntry, VideoMetadata
from heavylift.jobs.spec import MetadataStep, PipelineSpec, PosterStep, VideoPreviewStep
from heavylift.media.audio import audio_outputs_of
from heavylift.media.avsource import AVSource, check_duration, measured, open_av_source
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.ffmpeg import ArgsBuilder, SideConsumer, run_ffmpeg
from heavylift.media.image import decode_image
from heavylift.media.probe import ProbeInfo, VideoStream
from heavylift.media.sink import OutputSink, Writable, write_json
from heavylift.media.sniff import Sniffed
from heavylift.media.steps import thumbnail
from heavylift.media.stream import SourceStream

log = logging.getLogger(__name__)

MAX_POSTER_BYTES = 20 * 1024 * 1024
# Threads per job are fixed so that memory per job does not scale with the host's cores (every
# thread holds frames in flight). The decoder is cheap next to x264, so it gets one.
DECODER_THREADS = 1
ENCODER_THREADS = 2
PREVIEW_BUDGET = 0.9  # the preview may use at most this share of the source's bitrate


class _PreviewTooLarge(Exception):
    """The first encode came out bigger than the source: re-encode at an explicit bitrate."""


@dataclass(frozen=True)
class Bitrates:
    video_kbps: int
    audio_kbps: int


@dataclass(frozen=True)
class _Source:
    """Where ffmpeg reads the video from, what the probe found, and its video stream."""

    av: AVSource
    video: VideoStream

    @property
    def info(self) -> ProbeInfo:
        return self.av.info

    def run(
        self,
        args_for: ArgsBuilder,
        ctx: MediaContext,
        *,
        side: dict[str, SideConsumer],
        stdout: Writable | None = None,
        track_progress: bool = False,
    ) -> float | None:
        """One ffmpeg run over this source; returns the media time its outputs reached."""
        finished = run_ffmpeg(
            args_for,
            source=self.av.input,
            input_options=["-threads", str(DECODER_THREADS)],
            feed=self.av.feed,
            side=side,
            stdout=stdout,
            deadline=ctx.deadline,
            duration_s=self.info.duration_s,
            max_duration_s=ctx.max_duration_s,
            on_progress=ctx.report_progress if track_progress else None,
        )
        return finished.out_time_s


def video_outputs(
    stream: SourceStream, sniffed: Sniffed, spec: PipelineSpec, sink: OutputSink, ctx: MediaContext
) -> MediaResult:
    av = open_av_source(stream, sniffed, ctx)
    info = av.info
    if info.video is None:
        if info.audio is not None:  # an audio-only MP4/Matroska: treat it as the audio it is
            return audio_outputs_of(stream, av, spec, sink, ctx)
        raise UnsupportedMedia("no video or audio stream")
    check_duration(info, ctx)
    video = info.video
    if video.width * video.height > ctx.max_pixels:
        raise TooLarge(f"{video.width}×{video.height} frames exceed {ctx.max_pixels} pixels")
    source = _Source(av, video)
    poster = next((s for s in spec.video if isinstance(s, PosterStep)), None)
    preview = next((s for s in spec.video if isinstance(s, VideoPreviewStep)), None)

    outputs: list[OutputEntry] = []
    poster_jpeg = io.BytesIO()
    reached = None  # media time a full encode reached: the real duration
    if preview is not None:
        entry, reached = _preview_within_source_size(
            source, preview, poster, poster_jpeg, sink, ctx
        )
        if entry is not None:
            outputs.append(entry)
    elif poster is not None:
        source.run(
            lambda pipes: [*_graph(None, poster, video), *_poster_output(poster, pipes["poster"])],
            ctx,
            side={"poster": _keep(poster_jpeg)},
        )
    if not av.by_location:
        stream.drain()  # ffmpeg may stop before the end: hash every byte all the same
    if poster is not None:
        outputs.extend(_write_poster(poster_jpeg.getvalue(), poster, sink, ctx))
    width, height = video.display_size
    final = measured(info, reached, ctx.source_bytes)
    metadata = VideoMetadata(
        container=sniffed.format,
        duration_s=final.duration_s,
        video_codec=video.codec,
        audio_codec=info.audio.codec if info.audio else None,
        width=width,
        height=height,
        rotation=video.rotation,
        fps=video.fps,
        bitrate_kbps=final.bitrate_kbps,
        bytes=ctx.source_bytes,
        sha256=None if av.by_location else stream.sha256,
    )
    if any(isinstance(s, MetadataStep) for s in spec.video):
        outputs.append(write_json(sink, "metadata.json", metadata))
    return MediaResult(outputs, metadata)


def _preview_within_source_size(
    source: _Source,
    step: VideoPreviewStep,
    poster: PosterStep | None,
    poster_jpeg: io.BytesIO,
    sink: OutputSink,
    ctx: MediaContext,
) -> tuple[OutputEntry | None, float | None]:
    """Encode once with a capped bitrate (and the poster on the side); in the rare case that
    is still bigger than the source, encode again from where the source lives, at a fixed,
    lower bitrate. A source so small that even that is bigger gets no preview: the source
    is its own preview. Also returns the media time the kept encode reached."""
    plan = plan_bitrates(step, ctx.source_bytes, source.info)
    try:
        return _write_preview(source, step, plan, poster, poster_jpeg, sink, ctx)
    except _PreviewTooLarge:
        log.info("preview larger than source; re-encoding at a fixed bitrate")
    strict = strict_bitrates(step, ctx.source_bytes, source.info)
    again = _Source(source.av.from_location(ctx), source.video)
    try:
        return _write_preview(again, step, strict, None, io.BytesIO(), sink, ctx)
    except _PreviewTooLarge:
        log.warning("no preview: even a minimal encode is bigger than the source")
        return None, None


def plan_bitrates(step: VideoPreviewStep, source_bytes: int, info: ProbeInfo) -> Bitrates:
    """Quality first (CRF), capped so the preview stays below the source's own bitrate."""
    audio = step.audio_kbps if info.audio else 0
    video = step.max_video_kbps
    if info.duration_s:
        budget = PREVIEW_BUDGET * source_bytes * 8 / info.duration_s / 1000
        if info.audio:
            audio = int(min(audio, max(32, budget * 0.2)))
        video = int(max(50, min(video, budget - audio)))
    return Bitrates(video, audio)


def strict_bitrates(step: VideoPreviewStep, source_bytes: int, info: ProbeInfo) -> Bitrates:
    plan = plan_bitrates(step, source_bytes, info)
    return Bitrates(max(30, plan.video_kbps // 2), min(plan.audio_kbps, 48) if info.audio else 0)


def _write_preview(
    source: _Source,
    step: VideoPreviewStep,
    plan: Bitrates,
    poster: PosterStep | None,
    poster_jpeg: io.BytesIO,
    sink: OutputSink,
    ctx: MediaContext,
) -> tuple[OutputEntry, float | None]:
    width, height = preview_size(source.video, step.max_height)
    side: dict[str, SideConsumer] = {"poster": _keep(poster_jpeg)} if poster else {}

    def args(pipes: dict[str, str]) -> list[str]:
        poster_args = _poster_output(poster, pipes["poster"]) if poster else []
        return [
            *_graph(step, poster, source.video),
            *poster_args,
            *_preview_output(step, plan, source.info),
        ]

    reached: float | None = None

    def produce(out: Writable) -> None:
        nonlocal reached
        counted = _Counting(out)
        reached = source.run(args, ctx, side=side, stdout=counted, track_progress=True)
        if counted.bytes > ctx.source_bytes:
            raise _PreviewTooLarge()

    entry = sink.write("preview.mp4", "video/mp4", produce, width=width, height=height)
    return entry, reached


def preview_size(video: VideoStream, max_height: int) -> tuple[int, int]:
    """Upright size with the short side at most ``max_height`` (720p), even, never enlarged."""
    width, height = video.display_size
    scale = min(1.0, max_height / min(width, height))
    return _even(width * scale), _even(height * scale)


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _graph(
    preview: VideoPreviewStep | None, poster: PosterStep | None, video: VideoStream
) -> list[str]:
    """One decode feeds both outputs. ffmpeg applies the rotation before this graph runs."""
    chains = []
    if preview and poster:
        chains.append("[0:v:0]split=2[forposter][forpreview]")
    poster_in = "[forposter]" if preview and poster else "[0:v:0]"
    preview_in = "[forpreview]" if preview and poster else "[0:v:0]"
    if poster:
        # every 30th frame of the first ~10 s at 30 fps, the most typical of 10 (the
        # thumbnail filter), scaled first so its buffer stays a few MB
        chains.append(
            f"{poster_in}select='not(mod(n\\,30))',"
            f"scale=w='min(iw,{poster.max_width})':h=-2,thumbnail=10[poster]"
        )
    if preview:
        width, height = preview_size(video, preview.max_height)
        chains.append(f"{preview_in}scale={width}:{height},format=yuv420p[preview]")
    return ["-filter_complex", ";".join(chains)]


def _poster_output(step: PosterStep, pipe: str) -> list[str]:
    q = max(2, min(31, round((100 - step.quality) / 5)))
    return [
        "-map",
        "[poster]",
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-q:v",
        str(q),
        "-f",
        "image2pipe",
        pipe,
    ]


def _preview_output(step: VideoPreviewStep, plan: Bitrates, info: ProbeInfo) -> list[str]:
    args = [
        "-map",
        "[preview]",
        "-c:v",
        "libx264",
        "-preset",
        step.preset,
        "-crf",
        str(step.crf),
        "-maxrate",
        f"{plan.video_kbps}k",
        "-bufsize",
        f"{plan.video_kbps * 2}k",
        "-profile:v",
        "high",
        "-g",
        "60",
        # bounded memory: fixed encoder threads, lookahead run in those threads (its own
        # frame buffer otherwise grows with the core count); rate control is unchanged
        "-threads",
        str(ENCODER_THREADS),
        "-x264-params",
        "sync-lookahead=0",
    ]
    if info.audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", f"{plan.audio_kbps}k", "-ac", "2"]
    return [*args, "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", "pipe:1"]


def _write_poster(
    jpeg: bytes, step: PosterStep, sink: OutputSink, ctx: MediaContext
) -> list[OutputEntry]:
    if not jpeg:
        raise UnsupportedMedia("no frame could be decoded for a poster")
    decoded = decode_image(
        SourceStream(io.BytesIO(jpeg), MAX_POSTER_BYTES),
        max(step.thumbnails.widths),
        ctx.max_pixels,
        max_decode_s=ctx.max_image_decode_s,
    )
    poster = sink.write(
        "poster.jpg",
        "image/jpeg",
        lambda out: out.write(jpeg),
        width=decoded.metadata.width,
        height=decoded.metadata.height,
    )
    return [poster, *thumbnail(decoded, step.thumbnails, sink)]


def _keep(buffer: io.BytesIO) -> Callable[[IO[bytes]], None]:
    def consume(pipe: IO[bytes]) -> None:
        while chunk := pipe.read(64 * 1024):
            if buffer.tell() + len(chunk) > MAX_POSTER_BYTES:
                raise TooLarge("poster frame is implausibly large")
            buffer.write(chunk)

    return consume


class _Counting:
    def __init__(self, out: Writable) -> None:
        self.out = out
        self.bytes = 0

    def write(self, data: bytes, /) -> int:
        self.bytes += len(data)
        return self.out.write(data)
