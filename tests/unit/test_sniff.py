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
from heavylift.media.sniff import SNIFF_BYTES, ImageFormat, sniff, sniff_image
from heavylift.media.stream import SourceStream
from infra.samples import photo_like
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
    """An ftyp box and the header of the box after it (the sniffer walks both)."""
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00\x00\x00\x10meta" + b"\x00" * 8


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


# --- structure, not magic numbers ----------------------------------------------------------


def box(kind: bytes, body: bytes = b"", size: int | None = None) -> bytes:
    return (size if size is not None else 8 + len(body)).to_bytes(4, "big") + kind + body


def mp3_frame() -> bytes:
    """One MPEG-1 layer III frame header (128 kb/s, 44.1 kHz) and its 417-byte frame."""
    return (b"\xff\xfb\x90\x64" + b"\x00" * 413)[:417]


def id3(size: int) -> bytes:
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * size


def ebml(doctype: bytes, segment: bool = True) -> bytes:
    body = b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return (
        b"\x1a\x45\xdf\xa3"
        + bytes([0x80 | len(body)])
        + body
        + (b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" if segment else b"\x1f\x43\xb6\x75")
    )


def riff(form: bytes, *chunks: bytes) -> bytes:
    body = form + b"".join(chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def chunk(name: bytes, size: int) -> bytes:
    return name + size.to_bytes(4, "little") + b"\x00" * size


@pytest.mark.parametrize(
    ("head", "total", "expected"),
    [
        (ftyp(b"isom", b"mp41")[:-16] + box(b"moov", b"\x00" * 8), None, ("video", "mp4")),
        (ftyp(b"qt  ", b"qt  ")[:-16] + box(b"mdat"), None, ("video", "mov")),
        (ftyp(b"M4A ", b"isom")[:-16] + box(b"free"), None, ("audio", "m4a")),
        (box(b"wide") + box(b"mdat", size=1000), 1008, ("video", "mov")),  # QuickTime, no ftyp
        (ebml(b"webm"), None, ("video", "webm")),
        (ebml(b"matroska"), None, ("video", "matroska")),
        (
            riff(b"WAVE", chunk(b"LIST", 10), chunk(b"fmt ", 16), chunk(b"data", 4)),
            None,
            ("audio", "wav"),
        ),
        (riff(b"AVI ", b"LIST" + (4).to_bytes(4, "little") + b"hdrl"), None, ("video", "avi")),
        (id3(20) + mp3_frame() * 2, None, ("audio", "mp3")),
        (id3(100_000)[:1000], None, ("audio", "mp3")),  # the tag fills the head: mp3 on trust
        (mp3_frame() * 3, None, ("audio", "mp3")),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 34, None, ("audio", "flac")),
        (id3(10) + b"fLaC\x80\x00\x00\x22" + b"\x00" * 34, None, ("audio", "flac")),
    ],
)
def test_valid_structures_sniff(head: bytes, total: int | None, expected: tuple[str, str]) -> None:
    found = sniff(head, total)
    assert found is not None and (found.kind.value, found.format) == expected


@pytest.mark.parametrize(
    ("head", "total"),
    [
        pytest.param(ftyp(b"isom")[:-16] + box(b"mdat", size=10_000), 5_000, id="box-past-the-end"),
        pytest.param(ftyp(b"isom")[:-16] + box(b"mdat", size=4), None, id="box-size-4"),
        pytest.param(ftyp(b"isom")[:-16] + box(b"<MPD"), None, id="unknown-box"),
        pytest.param(b"\x3c\x21\x2d\x2dftypisom-->", None, id="ftyp-in-a-comment"),
        pytest.param(b"\x00\x00\x00\x0cftypisom" + box(b"mdat"), None, id="ftyp-too-short"),
        pytest.param(b"\x3c\x21\x2d\x2dfree-->", 500, id="free-in-a-comment"),
        pytest.param(ebml(b"mka!"), None, id="ebml-other-doctype"),
        pytest.param(ebml(b"webm", segment=False), None, id="ebml-no-segment"),
        pytest.param(b"\x1a\x45\xdf\xa3\x00\x00", None, id="ebml-bad-vint"),
        pytest.param(
            riff(b"WAVE", chunk(b"data", 4), chunk(b"fmt ", 16)), None, id="wav-data-first"
        ),
        pytest.param(riff(b"AVI ", chunk(b"JUNK", 4)), None, id="avi-no-header"),
        pytest.param(riff(b"WAVE", b"\x00\x01\x02\x03" + b"\x00" * 8), None, id="riff-unprintable"),
        pytest.param(
            b"ID3\x04\x00\x00\x00\x00\x00\x80" + b"\x00" * 40, None, id="id3-not-syncsafe"
        ),
        pytest.param(id3(1000)[:200], 100, id="id3-past-the-end"),
        pytest.param(b"OggS\x01\x02" + b"\x00" * 40, None, id="ogg-version-1"),
        pytest.param(b"fLaC\x04\x00\x00\x22" + b"\x00" * 34, None, id="flac-no-streaminfo"),
        pytest.param(b"\x89PNG\r\n\x1a\n<svg>...</svg>", None, id="png-no-ihdr"),
        pytest.param(b"RIFF\x10\x00\x00\x00WEBP<svg" + b"\x00" * 8, None, id="webp-no-vp8"),
        pytest.param(b"II*\x00\x04\x00\x00\x00" + b"\x00" * 8, None, id="tiff-ifd-in-header"),
    ],
)
def test_broken_structures_are_corrupt(head: bytes, total: int | None) -> None:
    with pytest.raises(CorruptMedia):
        sniff(head, total)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(id3(20) + b"<MPD>" + b"\x00" * 600, id="id3-then-xml"),
        pytest.param(b"\xff\xfb\x90\x64" + b"\x01" * 600, id="one-frame-header-then-junk"),
        pytest.param(box(b"free", size=100_000)[:64] + b"<MPD>", id="quicktime-without-media"),
        pytest.param(ftyp(b"jp2 ")[:-16] + box(b"free"), id="jpeg-2000"),
        pytest.param(b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n", id="hls"),
        pytest.param(b"ffconcat version 1.0\nfile a.mp4\n", id="ffconcat"),
    ],
)
def test_non_media_is_none(head: bytes) -> None:
    assert sniff(head) is None
