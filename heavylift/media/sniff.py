"""Decide what a file is from its first bytes, never from its name or Content-Type."""

from __future__ import annotations

from enum import StrEnum

from heavylift.errors import CorruptMedia

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
