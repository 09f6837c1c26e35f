"""One entry point for every kind of media: sniff the bytes, pick the processor.

Every processor has the same shape, ``(stream, sniffed, spec, sink, ctx) -> MediaResult``.
A source whose bytes belong on another queue than the one it arrived on raises
:class:`WrongQueue` before any work is done (the producer only guessed from the name).
"""

from __future__ import annotations

from collections.abc import Callable

from heavylift.errors import UnsupportedMedia
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.media.audio import audio_outputs
from heavylift.media.context import MediaContext, MediaResult
from heavylift.media.image import decode_image
from heavylift.media.sink import OutputSink
from heavylift.media.sniff import SNIFF_BYTES, Sniffed, sniff
from heavylift.media.steps import run_steps
from heavylift.media.stream import SourceStream
from heavylift.media.video import video_outputs

Processor = Callable[[SourceStream, Sniffed, PipelineSpec, OutputSink, MediaContext], MediaResult]


class WrongQueue(Exception):
    """Not a failure: the job should run on ``kind``'s queue instead."""

    def __init__(self, kind: MediaKind) -> None:
        super().__init__(f"belongs on the {kind.queue} queue")
        self.kind = kind


def image_outputs(
    stream: SourceStream, sniffed: Sniffed, spec: PipelineSpec, sink: OutputSink, ctx: MediaContext
) -> MediaResult:
    decoded = decode_image(
        stream, spec.image_max_width or 1024, ctx.max_pixels, max_decode_s=ctx.max_image_decode_s
    )
    return MediaResult(run_steps(decoded, spec.image, sink), decoded.metadata)


PROCESSORS: dict[MediaKind, Processor] = {
    MediaKind.IMAGE: image_outputs,
    MediaKind.VIDEO: video_outputs,
    MediaKind.AUDIO: audio_outputs,
}


def process_media(
    stream: SourceStream,
    spec: PipelineSpec,
    sink: OutputSink,
    ctx: MediaContext,
    queue_kind: MediaKind,
) -> MediaResult:
    sniffed = sniff(stream.peek(SNIFF_BYTES), ctx.source_bytes or None)
    if sniffed is None:
        raise UnsupportedMedia("not an image, video or audio format Heavylift understands")
    if sniffed.kind is not queue_kind:
        raise WrongQueue(sniffed.kind)
    return PROCESSORS[sniffed.kind](stream, sniffed, spec, sink, ctx)
