"""Decide what a file is from its first bytes, never from its name or Content-Type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from heavylift.errors import CorruptMedia
from heavylift.spec import MediaKind

SNIFF_BYTES = 64

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}


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


def sniff_image(head: bytes) -> ImageFormat | None:
    """The image format of ``head``, or None if it is not an image Heavylift knows.

    Raises :class:`CorruptMedia` for a PNG whose signature was mangled in transit (a classic
    symptom of text-mode transfers), since calling that "unsupported" would mislead.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(PNG_SIGNATURE):
        return ImageFormat.PNG
    if _looks_like_damaged_png(head):
        raise CorruptMedia("PNG signature is damaged (text-mode transfer?)")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return ImageFormat.TIFF
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 32), 4)}
        if brands & AVIF_BRANDS:
            return ImageFormat.AVIF
        if brands & HEIF_BRANDS:
            return ImageFormat.HEIF
    return None


def _looks_like_damaged_png(head: bytes) -> bool:
    """An IHDR chunk right at the start means PNG, whatever happened to the signature."""
    return b"IHDR" in head[:32]


# --- every kind --------------------------------------------------------------------------

ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
ISO_QUICKTIME_BRANDS = {b"qt  "}


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: a media kind and a container (or image) format name."""

    kind: MediaKind
    format: str


def sniff(head: bytes) -> Sniffed | None:
    """Images, video and audio by magic numbers; None for anything else."""
    image = sniff_image(head)
    if image is not None:
        return Sniffed(MediaKind.IMAGE, image.value)
    if head[4:8] == b"ftyp":
        major = head[8:12]
        if major in ISO_AUDIO_BRANDS:
            return Sniffed(MediaKind.AUDIO, "m4a")
        return Sniffed(MediaKind.VIDEO, "mov" if major in ISO_QUICKTIME_BRANDS else "mp4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):  # old QuickTime, no ftyp
        return Sniffed(MediaKind.VIDEO, "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or WebM (DocType says which)
        return Sniffed(MediaKind.VIDEO, "webm" if b"webm" in head[:64] else "matroska")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed(MediaKind.VIDEO, "avi")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed(MediaKind.AUDIO, "wav")
    if head.startswith(b"fLaC"):
        return Sniffed(MediaKind.AUDIO, "flac")
    if head.startswith(b"OggS"):
        return Sniffed(MediaKind.VIDEO if b"theora" in head else MediaKind.AUDIO, "ogg")
    if head.startswith(b"ID3") or _mpeg_audio_frame(head) == "mp3":
        return Sniffed(MediaKind.AUDIO, "mp3")
    if _mpeg_audio_frame(head) == "aac":
        return Sniffed(MediaKind.AUDIO, "aac")
    return None


def _mpeg_audio_frame(head: bytes) -> str | None:
    """An MPEG audio frame header (mp3) or an ADTS header (aac) at offset 0."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = (head[1] >> 1) & 0b11
    if layer == 0b00 and head[1] & 0xF6 == 0xF0:
        return "aac"
    if layer == 0b01 and (head[2] >> 4) not in (0, 15):  # layer III with a valid bitrate index
        return "mp3"
    return None
