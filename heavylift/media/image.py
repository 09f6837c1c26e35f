"""Decode an image once, in bounded memory, into an upright sRGB base to derive from.

JPEG and PNG stream straight from the source through a ``SourceCustom`` with libvips'
shrink-on-load, so a 24 MP upload never exists in memory at full size. Formats whose
loaders need to seek or map the whole input (TIFF, HEIF/AVIF, WebP, GIF) are first spooled
to a temporary file, which keeps memory flat at the cost of disk. libvips errors while
decoding mean the input is broken: they become ``CorruptMedia``.

Only the loaders of accepted formats can run in this process (importing this module
blocks the others, SVG among them: its renderer decodes embedded images at any size), the
loader that read an image must be the one its sniffed format calls for, and decoding is
stopped past a time limit.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import pyvips

from heavylift.errors import CorruptMedia, JobTimeout, TooLarge, UnsupportedMedia
from heavylift.jobs.models import ImageMetadata
from heavylift.media.redact import redact
from heavylift.media.sniff import SNIFF_BYTES, ImageFormat, sniff_image
from heavylift.media.stream import SourceStream

MAX_ASPECT = 4  # a derivative's height is capped at this many times its width
LOADERS: dict[ImageFormat, str] = {  # the libvips loader class each accepted format needs
    ImageFormat.JPEG: "VipsForeignLoadJpeg",
    ImageFormat.PNG: "VipsForeignLoadPng",
    ImageFormat.GIF: "VipsForeignLoadNsgif",
    ImageFormat.WEBP: "VipsForeignLoadWebp",
    ImageFormat.TIFF: "VipsForeignLoadTiff",
    ImageFormat.AVIF: "VipsForeignLoadHeif",
    ImageFormat.HEIF: "VipsForeignLoadHeif",
}

pyvips.cache_set_max(0)  # workers see each image once; the operation cache only costs memory


def _allow_only_accepted_loaders() -> None:
    """Block every untrusted operation and every loader, then unblock the loaders of the
    accepted formats (a class unblocks its file, buffer and source variants)."""
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in set(LOADERS.values()):
        pyvips.operation_block_set(loader, False)


def source_loader(fmt: ImageFormat) -> str:
    """The nickname of the loader that reads ``fmt`` from a source (``jpegload_source``):
    what libvips records as ``vips-loader`` on the images it loads."""
    return str(pyvips.nickname_find(pyvips.type_from_name(f"{LOADERS[fmt]}Source")))


_allow_only_accepted_loaders()


@dataclass(frozen=True)
class DecodedImage:
    """The source's facts plus a memory-resident, upright, sRGB copy at the largest size needed."""

    metadata: ImageMetadata
    base: pyvips.Image


def decode_image(
    stream: SourceStream, max_width: int, max_pixels: int, *, max_decode_s: float | None = None
) -> DecodedImage:
    """Sniff, check and decode ``stream``; decoding past ``max_decode_s`` is stopped."""
    deadline = time.monotonic() + max_decode_s if max_decode_s is not None else None
    fmt = sniff_image(stream.peek(SNIFF_BYTES))
    if fmt is None:
        raise UnsupportedMedia("not an image format Heavylift understands")
    loader = source_loader(fmt)
    with tempfile.TemporaryDirectory(prefix="heavylift-") as spool_dir:
        source, keepalive = _open_source(stream, fmt, spool_dir)
        try:
            header = pyvips.Operation.call(loader, source, access="sequential", fail_on="error")
            _check_loader(header, loader)
            _check_pixels(header, max_pixels)
            base = _upright_srgb_base(source, header, max_width, loader, deadline)
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


def _check_loader(image: pyvips.Image, loader: str) -> None:
    """The bytes were sniffed as one format; a different loader means they are not it."""
    used = image.get("vips-loader") if image.get_typeof("vips-loader") else None
    if used != loader:
        raise CorruptMedia(f"read by {used}, not {loader}: the file is not what it starts as")


def _check_pixels(header: pyvips.Image, max_pixels: int) -> None:
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise TooLarge(f"{header.width}×{header.height} = {pixels} pixels, limit is {max_pixels}")


def _upright_srgb_base(
    source: pyvips.Source,
    header: pyvips.Image,
    max_width: int,
    loader: str,
    deadline: float | None,
) -> pyvips.Image:
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
    _check_loader(base, loader)  # thumbnail_source picks its loader itself: the same one?
    if base.interpretation != "srgb" or base.format != "uchar":
        base = base.colourspace("srgb")  # grey, 16-bit, CMYK without a profile
    return _decode(base, deadline)  # now, while errors still mean "corrupt input"


def _decode(image: pyvips.Image, deadline: float | None) -> pyvips.Image:
    """``image`` computed into memory; past ``deadline`` libvips is told to stop (checked
    on its progress signal, between tiles) and the job fails with ``timeout``."""
    if deadline is None:
        return image.copy_memory()
    stopped = False

    def on_eval(evaluated: pyvips.Image, progress: Any) -> None:
        nonlocal stopped
        if time.monotonic() > deadline:
            stopped = True
            evaluated.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", on_eval)
    try:
        return image.copy_memory()
    except pyvips.Error:
        if stopped:
            raise JobTimeout("decoding the image exceeded its time limit; it was stopped") from None
        raise


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    return int(image.get(name)) if image.get_typeof(name) else default


def _decoder_message(exc: pyvips.Error, fmt: ImageFormat) -> str:
    """The decoder's own words, without libvips' generic "unable to call …" wrappers."""
    text = redact(f"{exc.message}\n{exc.detail}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith("unable to ")]
    return "; ".join(specific[:3]) or f"the {fmt.value} decoder rejected the file as damaged"
