"""What a file is, from its first bytes; and the peekable, hashing source stream.

Sniffing decides which decoder (and which memory strategy) an upload gets, and whether the
user is told "unsupported" or "corrupt"; the stream's hash and size end up in the manifest.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from heavylift.errors import CorruptMedia, TooLarge
from heavylift.media.sniff import SNIFF_BYTES, ImageFormat, sniff_image
from heavylift.media.stream import SourceStream
from heavylift.samples import photo_like
from tests.conftest import PNGSUITE

GENERATED = {
    ".jpg": ImageFormat.JPEG,
    ".png": ImageFormat.PNG,
    ".webp": ImageFormat.WEBP,
    ".gif": ImageFormat.GIF,
    ".tif": ImageFormat.TIFF,
    ".avif": ImageFormat.AVIF,
}


@pytest.mark.parametrize("suffix", sorted(GENERATED))
def test_sniffs_real_files_written_by_libvips(suffix: str) -> None:
    """The head of a real encoder's output, not a hand-written magic number."""
    data = photo_like(64, 48).write_to_buffer(suffix)
    assert sniff_image(data[:SNIFF_BYTES]) is GENERATED[suffix]


def test_bigtiff_is_tiff() -> None:
    """BigTIFF (large scans) is TIFF to libvips; calling it unsupported rejects real uploads."""
    data = photo_like(64, 48).tiffsave_buffer(bigtiff=True)
    assert sniff_image(data[:SNIFF_BYTES]) is ImageFormat.TIFF


def test_streaming_formats_are_jpeg_and_png_only() -> None:
    """Everything else is spooled to disk first, because its loader seeks or maps."""
    assert {f for f in ImageFormat if f.streams} == {ImageFormat.JPEG, ImageFormat.PNG}


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 24, ImageFormat.TIFF, id="tiff-be"),
        pytest.param(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 24, ImageFormat.TIFF, id="tiff-le"),
        pytest.param(b"GIF87a\x01\x00\x01\x00", ImageFormat.GIF, id="gif87a"),
        pytest.param(ftyp(b"heic", b"mif1", b"heic"), ImageFormat.HEIF, id="iphone-heic"),
        pytest.param(ftyp(b"mif1", b"heic"), ImageFormat.HEIF, id="heif-mif1"),
        pytest.param(ftyp(b"avif", b"mif1", b"miaf"), ImageFormat.AVIF, id="avif"),
        pytest.param(ftyp(b"mif1", b"avif"), ImageFormat.AVIF, id="avif-compatible-brand"),
        pytest.param(b"\xff\xd8\xff\xdb" + b"\x00" * 20, ImageFormat.JPEG, id="jpeg-no-exif"),
    ],
)
def test_sniffs_magic_bytes(head: bytes, expected: ImageFormat) -> None:
    assert sniff_image(head) is expected


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, world\n", id="text"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", id="pdf"),
        pytest.param(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">', id="svg"),
        pytest.param(b"BM6\x00\x0c\x00\x00\x00\x00\x006\x00\x00\x00", id="bmp"),
        pytest.param(ftyp(b"isom", b"iso2", b"avc1", b"mp41"), id="mp4"),
        pytest.param(ftyp(b"qt  ", b"qt  "), id="quicktime"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", id="wav"),
        pytest.param(b"PK\x03\x04\x14\x00\x00\x00", id="zip"),
        pytest.param(b"\xff\xd8", id="jpeg-too-short"),
    ],
)
def test_unknown_heads_are_none(head: bytes) -> None:
    """Not an image Heavylift knows: the caller reports 'unsupported', not a crash."""
    assert sniff_image(head) is None


DAMAGED = sorted(p.name for p in PNGSUITE.glob("xs*.png")) + ["xcrn0g04.png", "xlfn0g04.png"]


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_png_signature_is_corrupt_not_unsupported(name: str) -> None:
    """A PNG mangled by a text-mode transfer is a broken PNG, and the user should hear so."""
    head = (PNGSUITE / name).read_bytes()[:SNIFF_BYTES]
    with pytest.raises(CorruptMedia):
        sniff_image(head)


def test_every_intact_pngsuite_head_is_png() -> None:
    names = [p for p in sorted(PNGSUITE.glob("*.png")) if not p.name.startswith("x")]
    assert len(names) > 150
    assert {sniff_image(p.read_bytes()[:SNIFF_BYTES]) for p in names} == {ImageFormat.PNG}


# --- SourceStream -----------------------------------------------------------------------


class Trickle(io.BytesIO):
    """A raw reader that returns short reads, like a socket does."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1, /) -> bytes:
        size = self.step if size is None or size < 0 else min(size, self.step)
        return super().read(size)


DATA = os.urandom(100_000)


def test_peek_does_not_consume() -> None:
    stream = SourceStream(Trickle(DATA), max_bytes=len(DATA))
    assert stream.peek(64) == DATA[:64]  # short reads are gathered until 64 bytes
    assert stream.peek(16) == DATA[:16]
    assert stream.read(10) == DATA[:10]
    assert stream.peek(8) == DATA[10:18]


def test_peek_past_the_end_returns_what_there_is() -> None:
    stream = SourceStream(io.BytesIO(b"tiny"), max_bytes=100)
    assert stream.peek(64) == b"tiny"
    assert stream.read(64) == b"tiny"
    assert stream.read(64) == b""


def test_reads_after_peek_return_the_whole_stream_in_order() -> None:
    stream = SourceStream(Trickle(DATA, step=997), max_bytes=len(DATA), chunk_bytes=4096)
    stream.peek(64)
    chunks = []
    while chunk := stream.read(5000):
        assert len(chunk) <= 5000
        chunks.append(chunk)
    assert b"".join(chunks) == DATA


def test_drain_makes_hash_and_size_cover_the_whole_stream() -> None:
    """Decoders stop early; the manifest's sha256 must still be the file's sha256."""
    stream = SourceStream(Trickle(DATA, step=4096), max_bytes=len(DATA), chunk_bytes=1000)
    stream.peek(64)
    stream.read(100)
    stream.drain()
    assert stream.bytes_read == len(DATA)
    assert stream.sha256 == hashlib.sha256(DATA).hexdigest()


def test_stream_exactly_at_the_limit_is_fine() -> None:
    stream = SourceStream(io.BytesIO(DATA), max_bytes=len(DATA), chunk_bytes=8192)
    stream.drain()
    assert stream.bytes_read == len(DATA)


@pytest.mark.parametrize("peek_first", [False, True])
def test_stream_over_the_limit_raises_too_large(peek_first: bool) -> None:
    """A source bigger than allowed fails with a named error instead of eating the worker."""
    stream = SourceStream(io.BytesIO(DATA), max_bytes=len(DATA) - 1, chunk_bytes=8192)
    if peek_first:
        stream.peek(64)
    with pytest.raises(TooLarge):
        stream.drain()


def test_peek_over_the_limit_raises_too_large() -> None:
    stream = SourceStream(io.BytesIO(DATA), max_bytes=10)
    with pytest.raises(TooLarge):
        stream.peek(64)


def test_stream_reads_a_file_from_disk(tmp_path: Path) -> None:
    """Any object with read(size) works as the raw reader (S3 body, file, socket)."""
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    with path.open("rb") as raw:
        stream = SourceStream(raw, max_bytes=len(DATA))
        assert stream.peek(4) == DATA[:4]
        stream.drain()
    assert stream.sha256 == hashlib.sha256(DATA).hexdigest()
