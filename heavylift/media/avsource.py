"""Where ffmpeg reads a job's audio or video from, and what probing it found.

Everything streams through ffmpeg's stdin, fed from the worker's ``SourceStream`` (which
hashes it on the way), except MP4/MOV/M4A whose index (``moov``) comes after the media data
or beyond the head: ffmpeg needs to seek in those, so it reads them where they live (a
presigned S3 URL, or the spool file of a URL source). Probing uses the head the worker has
already peeked whenever that head holds what a probe needs, so the object is read once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from heavylift.errors import TooLarge
from heavylift.media import isobmff
from heavylift.media.containers import Container
from heavylift.media.context import MediaContext
from heavylift.media.ffmpeg_input import FFmpegInput, location_input, stdin_input
from heavylift.media.probe import PROBE_BYTES, ProbeInfo, completed, probe
from heavylift.media.sniff import Sniffed
from heavylift.media.stream import SourceStream

ISO_CONTAINERS = {Container.MP4.value, Container.MOV.value, Container.M4A.value}
MAX_PROBE_S = 120.0


@dataclass(frozen=True)
class AVSource:
    """An ffmpeg input for the job's source, the stream that feeds it (None: ffmpeg reads
    the input itself), and the probe's findings."""

    sniffed: Sniffed
    input: FFmpegInput
    feed: SourceStream | None
    info: ProbeInfo

    @property
    def by_location(self) -> bool:
        return self.feed is None

    def from_location(self, ctx: MediaContext) -> AVSource:
        """The same source read again from where it lives (a second encode)."""
        where = location_input(self.sniffed.format, ctx.source_url())
        return AVSource(self.sniffed, where, None, self.info)


def open_av_source(stream: SourceStream, sniffed: Sniffed, ctx: MediaContext) -> AVSource:
    fmt = sniffed.format
    head = stream.peek(PROBE_BYTES)
    iso = fmt in ISO_CONTAINERS
    streams = not iso or isobmff.index_comes_first(head)
    run_input = stdin_input(fmt) if streams else location_input(fmt, ctx.source_url())
    timeout_s = max(1.0, min(MAX_PROBE_S, ctx.deadline - time.monotonic()))
    if streams and (not iso or isobmff.index_within(head)):
        info = probe(run_input, head=head, source_bytes=ctx.source_bytes, timeout_s=timeout_s)
    else:  # the index lies beyond the head: probe where the source lives (ffmpeg seeks)
        where = location_input(fmt, ctx.source_url()) if streams else run_input
        info = probe(where, source_bytes=ctx.source_bytes, timeout_s=timeout_s)
    return AVSource(sniffed, run_input, stream if streams else None, info)


def check_duration(info: ProbeInfo, ctx: MediaContext) -> None:
    if info.duration_s is not None and info.duration_s > ctx.max_duration_s:
        raise TooLarge(f"{info.duration_s:.0f} s long, limit is {ctx.max_duration_s:.0f} s")


def measured(info: ProbeInfo, out_time_s: float | None, source_bytes: int) -> ProbeInfo:
    """``info`` for metadata: where the header gave no duration (or only an estimate), the
    media time a run over the whole source reached, and the bitrate that follows from it."""
    if (info.duration_s is not None and not info.duration_estimated) or not out_time_s:
        return info
    return completed(
        replace(info, duration_s=out_time_s, duration_estimated=False, bitrate_kbps=None),
        source_bytes,
    )
