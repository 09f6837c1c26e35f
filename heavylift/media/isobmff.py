"""Where an MP4/MOV keeps its index. With ``moov`` after ``mdat`` ffmpeg cannot decode from
a pipe (it needs the index first), so such files are read through a presigned URL."""

from __future__ import annotations

import struct

ISO_BRANDED = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")


def is_iso_bmff(head: bytes) -> bool:
    return head[4:8] in ISO_BRANDED


def index_comes_first(head: bytes) -> bool:
    """True if the top-level ``moov`` box starts before ``mdat`` within ``head``.

    False when ``mdat`` comes first, or when the boxes before ``moov`` run past ``head``
    (unknown means "needs seeking", the safe answer).
    """
    offset = 0
    while offset + 8 <= len(head):
        size, box = struct.unpack(">I4s", head[offset : offset + 8])
        if box == b"moov":
            return True
        if box == b"mdat":
            return False
        if size == 1 and offset + 16 <= len(head):  # 64-bit size follows the type
            size = struct.unpack(">Q", head[offset + 8 : offset + 16])[0]
        if size < 8:  # 0 means "to the end of the file"; anything else below 8 is invalid
            return False
        offset += size
    return False
