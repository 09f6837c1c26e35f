"""How ffmpeg may open a source: with the demuxer the sniffer chose, through the one
protocol that source needs, and nothing else.

Left to itself, ffmpeg guesses the demuxer from the bytes, and some demuxers open what
their input refers to: a DASH manifest its BaseURLs, an HLS playlist its segments, an
ffconcat script its files, a MOV its data references. Nested opens inherit the input's
whitelists, so every ffmpeg input in Heavylift is built here:

* ``-f`` with the demuxer of the sniffed container, and ``-format_whitelist`` naming only
  that demuxer (so no nested demuxer can be opened either);
* ``-protocol_whitelist``: ``pipe`` for stdin, ``file`` for a local spool file, ``http,tcp``
  or ``https,tls,tcp`` for a presigned S3 URL;
* ``-enable_drefs 0`` for MOV, explicit although it is ffmpeg's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from heavylift.errors import UnsupportedMedia
from heavylift.media.containers import Container
from heavylift.media.redact import redact

DEMUXERS: dict[str, str] = {
    Container.MP4: "mov",
    Container.MOV: "mov",
    Container.M4A: "mov",
    Container.MATROSKA: "matroska",
    Container.WEBM: "matroska",
    Container.AVI: "avi",
    Container.OGG: "ogg",
    Container.WAV: "wav",
    Container.FLAC: "flac",
    Container.MP3: "mp3",
    Container.AAC: "aac",
}
DEMUXER_OPTIONS: dict[str, tuple[str, ...]] = {"mov": ("-enable_drefs", "0")}
PROTOCOLS = {"pipe": "pipe", "file": "file", "http": "http,tcp", "https": "https,tls,tcp"}
STDIN = "pipe:0"


@dataclass(frozen=True)
class FFmpegInput:
    """One ffmpeg input: demuxer, target (``pipe:0``, ``file:…`` or a URL), protocols."""

    demuxer: str
    target: str
    protocols: str

    @property
    def reads_stdin(self) -> bool:
        return self.target == STDIN

    def args(self, *options: str) -> list[str]:
        """The input's arguments; ``options`` (decoder options) go just before ``-i``."""
        return [
            "-f",
            self.demuxer,
            "-format_whitelist",
            self.demuxer,
            "-protocol_whitelist",
            self.protocols,
            *DEMUXER_OPTIONS.get(self.demuxer, ()),
            *options,
            "-i",
            self.target,
        ]

    def redact(self, text: str) -> str:
        """ffmpeg's words about this input, without its URL or path."""
        return redact(text, self.target, self.target.removeprefix("file:"))


def demuxer_for(container: str) -> str:
    try:
        return DEMUXERS[container]
    except KeyError:
        raise UnsupportedMedia(f"no demuxer for {container!r}") from None


def stdin_input(container: str) -> FFmpegInput:
    """ffmpeg reads the bytes the worker feeds it."""
    return FFmpegInput(demuxer_for(container), STDIN, PROTOCOLS["pipe"])


def location_input(container: str, location: str) -> FFmpegInput:
    """ffmpeg reads ``location`` itself: a presigned http(s) URL or a local spool path,
    when it must seek."""
    scheme = urlsplit(location).scheme
    if scheme in ("http", "https"):
        return FFmpegInput(demuxer_for(container), location, PROTOCOLS[scheme])
    if location.startswith("/"):
        return FFmpegInput(demuxer_for(container), f"file:{location}", PROTOCOLS["file"])
    raise ValueError("a source location is an http(s) URL or an absolute path")
