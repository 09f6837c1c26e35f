"""The non-ISO containers Heavylift accepts, recognised by their structure.

Each check looks at the head of a file (and its total size, when known) and answers with
the container it is, ``None`` when the bytes are not that container at all, or raises
:class:`CorruptMedia` when they start like it but break its rules. A magic number alone
never decides: a manifest or playlist can begin with any few bytes it likes.
"""

from __future__ import annotations

import struct
from enum import StrEnum

from heavylift.errors import CorruptMedia
from heavylift.jobs.spec import MediaKind


class Container(StrEnum):
    """Every audio and video container Heavylift accepts (``Sniffed.format`` values)."""

    MP4 = "mp4"
    MOV = "mov"
    M4A = "m4a"
    MATROSKA = "matroska"
    WEBM = "webm"
    AVI = "avi"
    OGG = "ogg"
    WAV = "wav"
    FLAC = "flac"
    MP3 = "mp3"
    AAC = "aac"


# --- EBML (Matroska, WebM) ----------------------------------------------------------------

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
EBML_DOCTYPE = 0x4282
MATROSKA_SEGMENT = 0x18538067
MAX_EBML_HEADER = 4096  # real headers are ~40 bytes
DOCTYPES = {b"matroska": Container.MATROSKA, b"webm": Container.WEBM}


def ebml(head: bytes, total_size: int | None) -> Container | None:
    """Matroska or WebM: an EBML header of valid elements whose DocType says which,
    followed by a Segment."""
    if not head.startswith(EBML_MAGIC):
        return None
    size, offset = _vint(head, 4, keep_marker=False)
    end = offset + size
    if end > min(len(head), MAX_EBML_HEADER) or (total_size is not None and end > total_size):
        raise CorruptMedia("EBML header has an implausible size")
    doctype = None
    while offset < end:
        element, offset = _vint(head, offset, keep_marker=True)
        length, offset = _vint(head, offset, keep_marker=False)
        if offset + length > end:
            raise CorruptMedia("EBML header element runs past the header")
        if element == EBML_DOCTYPE:
            doctype = head[offset : offset + length].rstrip(b"\x00")
        offset += length
    container = DOCTYPES.get(doctype or b"")
    if container is None:
        raise CorruptMedia(f"EBML document type {doctype!r} is neither Matroska nor WebM")
    if len(head) >= end + 4:
        segment, _ = _vint(head, end, keep_marker=True)
        if segment != MATROSKA_SEGMENT:
            raise CorruptMedia("a Matroska file without a Segment after its header")
    return container


def _vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``offset``: (value, offset after it)."""
    if offset >= len(data) or data[offset] == 0:
        raise CorruptMedia("invalid EBML variable-length integer")
    first = data[offset]
    length = 9 - first.bit_length()  # the leading zero bits say how many bytes follow
    if offset + length > len(data) or (keep_marker and length > 4):
        raise CorruptMedia("invalid EBML variable-length integer")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[offset + 1 : offset + length]:
        value = value << 8 | byte
    return value, offset + length


# --- RIFF (WAV, AVI; WebP is an image) -------------------------------------------------------

RIFF_FORMS = {b"WAVE": Container.WAV, b"AVI ": Container.AVI}


def riff(head: bytes) -> Container | None:
    """WAV (a ``fmt `` chunk before ``data``) or AVI (a ``LIST hdrl`` first)."""
    if head[:4] != b"RIFF" or len(head) < 12:
        return None
    form = RIFF_FORMS.get(head[8:12])
    if form is None:
        return None
    chunks = _riff_chunks(head, 12)
    if form is Container.AVI:
        if not chunks or chunks[0] != b"LIST" or head[20:24] != b"hdrl":
            raise CorruptMedia("an AVI file must begin with its header list")
        return form
    if b"data" in chunks and b"fmt " not in chunks[: chunks.index(b"data")]:
        raise CorruptMedia("a WAV file without a format chunk before its samples")
    return form  # (a format chunk beyond the head cannot be checked; ffmpeg is told wav)


def _riff_chunks(head: bytes, offset: int) -> list[bytes]:
    """The names of the chunks whose headers lie in ``head``, in order."""
    chunks = []
    while offset + 8 <= len(head):
        chunk_id, size = struct.unpack("<4sI", head[offset : offset + 8])
        if not all(0x20 <= byte <= 0x7E for byte in chunk_id):
            raise CorruptMedia("RIFF chunk with an unprintable name")
        chunks.append(chunk_id)
        offset += 8 + size + (size & 1)
    return chunks


# --- FLAC, Ogg ------------------------------------------------------------------------------

STREAMINFO_LENGTH = 34


def flac(head: bytes) -> Container | None:
    """``fLaC`` followed by a STREAMINFO metadata block, as the format requires."""
    if not head.startswith(b"fLaC"):
        return None
    if len(head) < 8 or head[4] & 0x7F != 0 or int.from_bytes(head[5:8]) != STREAMINFO_LENGTH:
        raise CorruptMedia("a FLAC file must start with its STREAMINFO block")
    return Container.FLAC


OGG_VIDEO_CODECS = (b"\x80theora",)


def ogg(head: bytes) -> tuple[Container, MediaKind] | None:
    """An Ogg page header (version 0, beginning of a stream); Theora makes it video."""
    if not head.startswith(b"OggS"):
        return None
    if len(head) < 28 or head[4] != 0 or not head[5] & 0x02:
        raise CorruptMedia("an Ogg file must start with a version-0 first page")
    segments = head[26]
    first_packet = head[27 + segments : 27 + segments + 8]
    video = first_packet.startswith(OGG_VIDEO_CODECS) or (
        first_packet.startswith(b"fishead") and b"\x80theora" in head
    )
    return Container.OGG, MediaKind.VIDEO if video else MediaKind.AUDIO


# --- MPEG audio: MP3 (with or without ID3v2 tags), AAC in ADTS --------------------------------

MAX_ID3_TAGS = 4
MAX_PADDING = 4096  # some taggers leave zero bytes between the tag and the first frame


def mpeg_audio(head: bytes, total_size: int | None) -> Container | None:
    """MP3 or ADTS AAC: frame headers in sequence, possibly after ID3v2 tags (and FLAC
    after an ID3v2 tag, which some taggers write)."""
    offset, tags = 0, 0
    while head[offset : offset + 3] == b"ID3":
        offset = _after_id3(head, offset)
        tags += 1
        if total_size is not None and offset > total_size:
            raise CorruptMedia("ID3 tag runs past the end of the file")
        if tags > MAX_ID3_TAGS:
            raise CorruptMedia("more ID3 tags in a row than any tagger writes")
    if tags and offset + 4 > len(head):
        return Container.MP3  # the tag (cover art) fills the head: ffmpeg is told mp3 only
    start = _skip_zeros(head, offset, MAX_PADDING) if tags else offset
    if tags and head[start : start + 4] == b"fLaC":
        return flac(head[start:])
    return _frames(head, start)  # None: not MPEG audio (an ID3 tag can precede anything)


def _skip_zeros(head: bytes, offset: int, limit: int) -> int:
    end = min(len(head), offset + limit)
    while offset < end and head[offset] == 0:
        offset += 1
    return offset


def _after_id3(head: bytes, offset: int) -> int:
    header = head[offset : offset + 10]
    if len(header) < 10 or header[3] not in (2, 3, 4) or header[4] == 0xFF:
        raise CorruptMedia("invalid ID3v2 tag header")
    if any(byte >= 0x80 for byte in header[6:10]):
        raise CorruptMedia("ID3v2 tag size is not syncsafe")
    size = 0
    for byte in header[6:10]:
        size = size << 7 | byte
    footer = 10 if header[3] == 4 and header[5] & 0x10 else 0
    return offset + 10 + size + footer


MP3_BITRATES_KBPS = {  # (MPEG-1?, index) -> kb/s, layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
}
MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frames(head: bytes, offset: int) -> Container | None:
    """Container of the frame at ``offset`` if it and (where the head reaches) the next one
    are valid MPEG audio layer III or ADTS frame headers."""
    kind, length = _frame(head, offset)
    if kind is None:
        return None
    following = offset + length
    if following + 4 <= len(head) and _frame(head, following)[0] is not kind:
        return None
    return kind


def _frame(head: bytes, offset: int) -> tuple[Container | None, int]:
    header = head[offset : offset + 7]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None, 0
    layer = (header[1] >> 1) & 0b11
    if layer == 0b00 and header[1] & 0xF6 == 0xF0 and len(header) == 7:  # ADTS
        length = (header[3] & 0x03) << 11 | header[4] << 3 | header[5] >> 5
        return (Container.AAC, length) if length >= 7 else (None, 0)
    version = (header[1] >> 3) & 0b11
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0b11
    if layer != 0b01 or version == 0b01 or rate_index == 3:
        return None, 0
    kbps = MP3_BITRATES_KBPS[version == 3][bitrate_index]
    if not kbps:
        return None, 0
    rate = MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    samples = 1152 if version == 3 else 576
    return Container.MP3, samples // 8 * kbps * 1000 // rate + padding
