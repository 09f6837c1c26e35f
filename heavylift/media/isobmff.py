"""ISO BMFF (MP4, MOV, M4A, AVIF, HEIF) as far as the head of a file shows it.

The top-level boxes are walked with their real sizes and types, so a file is called
ISO BMFF only if its first bytes are a chain of valid boxes, not because bytes 4-8 spell
``ftyp`` or ``free`` (an XML comment can spell those). The walk also tells where the index
(``moov``) is: with ``moov`` after ``mdat`` ffmpeg cannot decode from a pipe, so such files
are read through a URL that allows seeking.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from heavylift.errors import CorruptMedia

# Top-level boxes of MP4/MOV/M4A (ISO 14496-12, QuickTime) and of HEIF/AVIF (ISO 23008-12).
TOP_LEVEL = frozenset(
    {
        b"ftyp",
        b"styp",
        b"moov",
        b"mdat",
        b"free",
        b"skip",
        b"wide",
        b"pdin",
        b"moof",
        b"mfra",
        b"meta",
        b"uuid",
        b"sidx",
        b"ssix",
        b"prft",
        b"emsg",
        b"pnot",
        b"junk",
        b"udta",
    }
)
QUICKTIME_FIRST = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"junk"})
MAX_FTYP_BYTES = 1024  # real ones hold a handful of brands: 16-64 bytes


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    end: int | None  # None: "to the end of the file" (size field 0)


@dataclass(frozen=True)
class Layout:
    """The top-level boxes whose headers lie in the head, and the ``ftyp`` brands."""

    boxes: tuple[Box, ...]
    major: bytes | None
    brands: frozenset[bytes]

    def first(self, kind: bytes) -> Box | None:
        return next((box for box in self.boxes if box.kind == kind), None)


def looks_like_iso_bmff(head: bytes) -> bool:
    """The first box header names a top-level box type (its structure is checked later)."""
    return head[4:8] in TOP_LEVEL


def layout(head: bytes, total_size: int | None = None) -> Layout:
    """Walk the top-level boxes in ``head``; raise :class:`CorruptMedia` at the first box
    whose size or type is impossible (or that claims more bytes than the file has)."""
    boxes: list[Box] = []
    offset = 0
    while offset + 8 <= len(head) and (total_size is None or offset < total_size):
        size, kind = struct.unpack(">I4s", head[offset : offset + 8])
        if kind not in TOP_LEVEL:
            raise CorruptMedia(f"ISO BMFF box {_printable(kind)!r} at {offset} is not one")
        if size == 1:  # a 64-bit size follows the type
            if offset + 16 > len(head):
                boxes.append(Box(kind, offset, None))
                break
            size = struct.unpack(">Q", head[offset + 8 : offset + 16])[0]
            if size < 16:
                raise CorruptMedia(f"ISO BMFF box {kind.decode()} has an invalid size")
        elif size == 0:  # runs to the end of the file: the last box
            boxes.append(Box(kind, offset, None))
            break
        elif size < 8:
            raise CorruptMedia(f"ISO BMFF box {kind.decode()} has an invalid size")
        end = offset + size
        if total_size is not None and end > total_size:
            raise CorruptMedia(f"ISO BMFF box {kind.decode()} claims more bytes than the file")
        boxes.append(Box(kind, offset, end))
        offset = end
    if not boxes:
        raise CorruptMedia("too short for an ISO BMFF file")
    major, brands = _brands(head, boxes[0])
    if major is None and boxes[0].kind not in QUICKTIME_FIRST:
        raise CorruptMedia(f"ISO BMFF file starting with {boxes[0].kind.decode()}")
    return Layout(tuple(boxes), major, brands)


def _brands(head: bytes, first: Box) -> tuple[bytes | None, frozenset[bytes]]:
    if first.kind != b"ftyp":
        return None, frozenset()
    if first.end is None or not 16 <= first.end <= min(MAX_FTYP_BYTES, len(head)):
        raise CorruptMedia("ISO BMFF ftyp box has an implausible size")
    if first.end % 4:
        raise CorruptMedia("ISO BMFF ftyp box is not a list of brands")
    body = head[8 : first.end]
    major = body[:4]
    compatible = [body[i : i + 4] for i in range(8, len(body), 4)]
    if not all(_is_fourcc(brand) for brand in [major, *compatible]):
        raise CorruptMedia("ISO BMFF ftyp box has unprintable brands")
    return major, frozenset([major, *compatible])


def index_comes_first(head: bytes) -> bool:
    """True if the top-level ``moov`` box starts before ``mdat`` within ``head``.

    False when ``mdat`` comes first, or when the boxes before ``moov`` run past ``head``
    (unknown means "needs seeking", the safe answer).
    """
    try:
        boxes = layout(head).boxes
    except CorruptMedia:
        return False
    for box in boxes:
        if box.kind in (b"moov", b"mdat"):
            return box.kind == b"moov"
    return False


def index_within(head: bytes) -> bool:
    """True if the whole ``moov`` box (everything a probe needs) lies in ``head``."""
    if not index_comes_first(head):
        return False
    moov = layout(head).first(b"moov")
    return moov is not None and moov.end is not None and moov.end <= len(head)


def _is_fourcc(value: bytes) -> bool:
    return len(value) == 4 and all(0x20 <= byte <= 0x7E for byte in value)


def _printable(kind: bytes) -> str:
    return kind.decode("ascii", errors="replace") if _is_fourcc(kind) else kind.hex()
