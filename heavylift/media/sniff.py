"""Decide what a file is from its bytes, never from its name or Content-Type.

A few magic bytes are not enough: a DASH manifest that begins ``<!--free-->`` has ``free``
at bytes 4-8, and an SVG that begins ``<!--ftypavif-->`` has ``ftypavif`` there. So each
format is recognised by its structure as far as the head shows it (box and chunk sizes
and types, header fields), and the total size, when known, bounds what sizes may claim.
The answer decides the decoder: the demuxer ffmpeg is told to use, the libvips loader that
must have read an image. Bytes that are no format Heavylift knows give ``None``
(unsupported); bytes that start like one but break its rules raise :class:`CorruptMedia`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from heavylift.errors import CorruptMedia
from heavylift.jobs.spec import MediaKind
from heavylift.media import containers, isobmff
from heavylift.media.containers import Container

SNIFF_BYTES = 64 * 1024  # enough for ID3 tags without cover art and the first boxes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
ISO_QUICKTIME_BRANDS = {b"qt  "}
ISO_OTHER_BRANDS = {b"jp2 ", b"jpx ", b"jpm ", b"jxl ", b"crx "}  # JPEG 2000/XL, camera raw
WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    TIFF = "tiff"
    AVIF = "avif"
    HEIF = "heif"

    @property
    def streams(self) -> bool:
        """True if libvips decodes it from a forward-only stream (the rest need a file)."""
        return self in (ImageFormat.JPEG, ImageFormat.PNG)


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: a media kind and a container (or image) format name."""

    kind: MediaKind
    format: str


def sniff(head: bytes, total_size: int | None = None) -> Sniffed | None:
    """Images, video and audio by structure; None for anything else."""
    image = sniff_image(head, total_size)
    if image is not None:
        return Sniffed(MediaKind.IMAGE, image.value)
    if isobmff.looks_like_iso_bmff(head):
        return _iso_media(isobmff.layout(head, total_size))
    matroska = containers.ebml(head, total_size)
    if matroska is not None:
        return Sniffed(MediaKind.VIDEO, matroska.value)
    riff = containers.riff(head)
    if riff is not None:
        return Sniffed(MediaKind.VIDEO if riff is Container.AVI else MediaKind.AUDIO, riff.value)
    ogg = containers.ogg(head)
    if ogg is not None:
        return Sniffed(ogg[1], ogg[0].value)
    audio = containers.flac(head) or containers.mpeg_audio(head, total_size)
    return Sniffed(MediaKind.AUDIO, audio.value) if audio is not None else None


def _iso_media(layout: isobmff.Layout) -> Sniffed | None:
    if layout.major is None:  # old QuickTime without ftyp: its index or media must show
        kinds = {box.kind for box in layout.boxes}
        return Sniffed(MediaKind.VIDEO, Container.MOV.value) if kinds & {b"moov", b"mdat"} else None
    if layout.major in ISO_OTHER_BRANDS:
        return None
    if layout.major in ISO_AUDIO_BRANDS:
        return Sniffed(MediaKind.AUDIO, Container.M4A.value)
    container = Container.MOV if layout.major in ISO_QUICKTIME_BRANDS else Container.MP4
    return Sniffed(MediaKind.VIDEO, container.value)


def sniff_image(head: bytes, total_size: int | None = None) -> ImageFormat | None:
    """The image format of ``head``, or None if it is not an image Heavylift knows.

    Raises :class:`CorruptMedia` for an image whose header breaks its format's rules, and
    for a PNG whose signature was mangled in transit (a classic symptom of text-mode
    transfers), since calling that "unsupported" would mislead.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG if len(head) > 3 and head[3] >= 0xC0 else None
    if head.startswith(PNG_SIGNATURE):
        if head[8:16] != b"\x00\x00\x00\x0dIHDR":
            raise CorruptMedia("a PNG file must start with its IHDR chunk")
        return ImageFormat.PNG
    if _looks_like_damaged_png(head):
        raise CorruptMedia("PNG signature is damaged (text-mode transfer?)")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        if head[12:16] not in WEBP_CHUNKS:
            raise CorruptMedia("a WebP file must start with a VP8, VP8L or VP8X chunk")
        return ImageFormat.WEBP
    if _is_tiff(head):
        return ImageFormat.TIFF
    if head[4:8] == b"ftyp":
        brands = isobmff.layout(head, total_size).brands
        if brands & AVIF_BRANDS:
            return ImageFormat.AVIF
        if brands & HEIF_BRANDS:
            return ImageFormat.HEIF
    return None


def _looks_like_damaged_png(head: bytes) -> bool:
    """An IHDR chunk right at the start means PNG, whatever happened to the signature."""
    return b"IHDR" in head[:32]


def _is_tiff(head: bytes) -> bool:
    """TIFF or BigTIFF byte order, magic number and a first IFD past the header."""
    if len(head) < 16:
        return False
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        return False
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        ifd = struct.unpack(order + "I", head[4:8])[0]
        if ifd < 8:
            raise CorruptMedia("TIFF header points its first directory into the header")
        return True
    if magic == 43:  # BigTIFF: offset size 8, a reserved zero, a 64-bit IFD offset
        offset_size, reserved, ifd = struct.unpack(order + "HHQ", head[4:16])
        if offset_size != 8 or reserved != 0 or ifd < 16:
            raise CorruptMedia("invalid BigTIFF header")
        return True
    return False
