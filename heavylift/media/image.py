"""Decode an image once, in bounded memory, into an upright sRGB base to derive from.

JPEG and PNG stream straight from the source through a ``SourceCustom`` with libvips'
shrink-on-load, so a 24 MP upload never exists in memory at full size. Formats whose
loaders need to seek or map the whole input (TIFF, HEIF/AVIF, WebP, GIF) are first spooled
to a temporary file, which keeps memory flat at the cost of disk. libvips errors while
decoding mean the input is broken: they become ``CorruptMedia``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import pyvips

from heavylift.errors import CorruptMedia, TooLarge, UnsupportedMedia
from heavylift.media.sniff import SNIFF_BYTES, ImageFormat, sniff_image
from heavylift.media.stream import SourceStream
from heavylift.models import ImageMetadata

MAX_ASPECT = 4  # a derivative's height is capped at this many times its width

pyvips.cache_set_max(0)  # workers see each image once; the operation cache only costs memory


@dataclass(frozen=True)
class DecodedImage:
    """The source's facts plus a memory-resident, upright, sRGB copy at the largest size needed."""

    metadata: ImageMetadata
    base: pyvips.Image


def decode_image(stream: SourceStream, max_width: int, max_pixels: int) -> DecodedImage:
    fmt = sniff_image(stream.peek(SNIFF_BYTES))
    if fmt is None:
        raise UnsupportedMedia("not an image format Heavylift understands")
    with tempfile.TemporaryDirectory(prefix="heavylift-") as spool_dir:
        source, keepalive = _open_source(stream, fmt, spool_dir)
        try:
            header = pyvips.Image.new_from_source(source, "", access="sequential", fail_on="error")
            _check_pixels(header, max_pixels)
            base = _upright_srgb_base(source, header, max_width)
        except pyvips.Error as exc:
            stream.raise_failure()  # the read failed (storage, size limit), not the file
            if fmt is ImageFormat.HEIF:
                raise UnsupportedMedia("HEIF/HEIC (HEVC) decoding is not available") from exc
            raise CorruptMedia(_decoder_message(exc, fmt)) from exc
        finally:
            del keepalive  # only now may the Python read callback be collected
        stream.raise_failure()
        stream.drain()
    orientation = _int_field(header, "orientation", 1)
    turned = orientation in (5, 6, 7, 8)  # stored on its side: report upright dimensions
    metadata = ImageMetadata(
        format=fmt.value,
        width=header.height if turned else header.width,
        height=header.width if turned else header.height,
        orientation=orientation,
        alpha=bool(header.hasalpha()),
        pages=_int_field(header, "n-pages", 1),
        bytes=stream.bytes_read,
        sha256=stream.sha256,
    )
    return DecodedImage(metadata=metadata, base=base)


def resize_to_width(base: pyvips.Image, width: int) -> pyvips.Image:
    """``base`` fitted into ``width`` × ``MAX_ASPECT·width``, never enlarged."""
    if base.width <= width and base.height <= width * MAX_ASPECT:
        return base
    return base.thumbnail_image(width, height=width * MAX_ASPECT, size="down")


def _open_source(
    stream: SourceStream, fmt: ImageFormat, spool_dir: str
) -> tuple[pyvips.Source, Any]:
    """A libvips source for ``stream``, plus whatever must stay referenced while it is read.

    ``thumbnail_source`` keeps no reference to a ``SourceCustom``; if Python collects it
    before the pixels are read, the process dies. The caller holds the keepalive.
    """
    if fmt.streams:
        custom = pyvips.SourceCustom()
        custom.on_read(stream.read_for_decoder)
        return custom, custom
    path = f"{spool_dir}/source"
    with open(path, "wb") as spool:
        shutil.copyfileobj(stream, spool, length=256 * 1024)  # type: ignore[misc]
    source = pyvips.Source.new_from_file(path)
    return source, source


def _check_pixels(header: pyvips.Image, max_pixels: int) -> None:
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise TooLarge(f"{header.width}×{header.height} = {pixels} pixels, limit is {max_pixels}")


def _upright_srgb_base(source: pyvips.Source, header: pyvips.Image, max_width: int) -> pyvips.Image:
    options: dict[str, Any] = {}
    if header.get_typeof("icc-profile-data"):
        options["export_profile"] = "srgb"  # colour-manage through the embedded profile
    base = pyvips.Image.thumbnail_source(
        source,
        max_width,
        height=max_width * MAX_ASPECT,
        size="down",
        option_string="fail_on=error",  # thumbnail_source ignores fail_on passed any other way
        **options,
    )
    if base.interpretation != "srgb" or base.format != "uchar":
        base = base.colourspace("srgb")  # grey, 16-bit, CMYK without a profile
    return base.copy_memory()  # decode now, while errors still mean "corrupt input"


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    return int(image.get(name)) if image.get_typeof(name) else default


def _decoder_message(exc: pyvips.Error, fmt: ImageFormat) -> str:
    """The decoder's own words, without libvips' generic "unable to call …" wrappers."""
    lines = [line.strip() for line in f"{exc.message}\n{exc.detail}".splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith("unable to ")]
    return "; ".join(specific[:3]) or f"the {fmt.value} decoder rejected the file as damaged"
