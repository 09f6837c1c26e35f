"""Decode once, derive many: what users see in their thumbnails and metadata.json.

Thumbnails must be the requested width (never upscaled), upright whatever the EXIF
orientation, sRGB, stripped of metadata, with alpha kept; broken inputs must fail with a
named error rather than produce garbage or crash the worker.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
import pyvips

from heavylift.errors import CorruptMedia, TooLarge, UnsupportedMedia
from heavylift.jobs.models import OutputEntry
from heavylift.jobs.spec import PipelineSpec
from heavylift.media.image import DecodedImage, decode_image, resize_to_width
from heavylift.media.steps import run_steps
from heavylift.media.stream import SourceStream
from infra.samples import photo_like
from tests.conftest import EXIF_ORIENTATION, PNGSUITE
from tests.unit.media_helpers import MemorySink

UNLIMITED = 10**12
PIXELS = 100_000_000


def decode(
    data: bytes, max_width: int = 1024, max_pixels: int = PIXELS, max_bytes: int = UNLIMITED
) -> DecodedImage:
    return decode_image(SourceStream(io.BytesIO(data), max_bytes, 64 * 1024), max_width, max_pixels)


def process(
    data: bytes, widths: tuple[int, ...] = (256, 1024)
) -> tuple[MemorySink, list[OutputEntry]]:
    """What a worker does between reading the source and writing the manifest."""
    spec = PipelineSpec.default(widths, 80)
    sink = MemorySink()
    outputs = run_steps(decode(data, spec.image_max_width), spec.image, sink)
    return sink, outputs


def mean_difference(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean absolute pixel difference on 0..255 (images must have equal size)."""
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands)
    return float((a.cast("float") - b.cast("float")).abs().avg())


def assert_clean_srgb(image: pyvips.Image) -> None:
    """No EXIF, ICC or XMP left in the output; upright; 8-bit sRGB with 3 or 4 bands."""
    fields = set(image.get_fields())
    assert not fields & {"exif-data", "icc-profile-data", "xmp-data", "iptc-data"}, fields
    if "orientation" in fields:
        assert image.get("orientation") == 1
    assert image.interpretation == "srgb"
    assert image.format == "uchar"
    assert image.bands in (3, 4)


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return photo_like(4000, 3000).write_to_buffer(".jpg", Q=85)


def test_widths_from_a_12_megapixel_photo(big_jpeg: bytes) -> None:
    sink, outputs = process(big_jpeg)
    assert set(sink.files) == {"thumb-256.webp", "thumb-1024.webp", "metadata.json"}
    for width in (256, 1024):
        data = sink.files[f"thumb-{width}.webp"]
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        image = sink.image(f"thumb-{width}.webp")
        assert (image.width, image.height) == (width, width * 3 // 4)
        assert sink.types[f"thumb-{width}.webp"] == "image/webp"
        assert_clean_srgb(image)
    entries = {entry.key: entry for entry in outputs}
    assert (entries["thumb-1024.webp"].width, entries["thumb-1024.webp"].height) == (1024, 768)
    assert (
        entries["thumb-256.webp"].sha256 == hashlib.sha256(sink.files["thumb-256.webp"]).hexdigest()
    )
    assert sink.types["metadata.json"] == "application/json"


def test_small_sources_are_never_upscaled() -> None:
    """A 300 px source asked for 512 and 1024 px thumbnails stays 300 px in both."""
    sink, outputs = process(photo_like(300, 200).write_to_buffer(".png"), widths=(256, 512, 1024))
    sizes = {o.key: (o.width, o.height) for o in outputs if o.key.endswith(".webp")}
    assert sizes == {
        "thumb-256.webp": (256, 171),
        "thumb-512.webp": (300, 200),
        "thumb-1024.webp": (300, 200),
    }
    for name, size in sizes.items():
        assert (sink.image(name).width, sink.image(name).height) == size


@pytest.mark.parametrize(
    ("source", "width", "expected"),
    [
        ((4000, 3000), 256, (256, 192)),
        ((3000, 4000), 256, (256, 341)),
        ((300, 200), 1024, (300, 200)),
        ((256, 256), 256, (256, 256)),
        ((200, 3000), 128, (34, 512)),
        ((100, 1000), 128, (51, 512)),
    ],
)
def test_resize_to_width(source: tuple[int, int], width: int, expected: tuple[int, int]) -> None:
    """Fit into width x 4*width, never enlarge: a banner-tall image is capped by height."""
    resized = resize_to_width(pyvips.Image.black(*source, bands=3), width)
    assert (resized.width, resized.height) == expected


# --- EXIF orientation -------------------------------------------------------------------


def orientation_thumbs(name: str) -> MemorySink:
    return process((EXIF_ORIENTATION / name).read_bytes(), widths=(128, 256))[0]


@pytest.fixture(scope="module")
def reference() -> dict[str, MemorySink]:
    return {kind: orientation_thumbs(f"{kind}_0.jpg") for kind in ("Landscape", "Portrait")}


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
@pytest.mark.parametrize("n", range(1, 9))
def test_thumbnails_are_upright_for_every_exif_orientation(
    reference: dict[str, MemorySink], kind: str, n: int
) -> None:
    """A phone photo held sideways must not come out sideways or mirrored."""
    sink = orientation_thumbs(f"{kind}_{n}.jpg")
    for width in (128, 256):
        image = sink.image(f"thumb-{width}.webp")
        assert (image.width > image.height) == (kind == "Landscape")
        assert mean_difference(image, reference[kind].image(f"thumb-{width}.webp")) < 10
        assert_clean_srgb(image)


def test_orientation_comparison_can_fail(reference: dict[str, MemorySink]) -> None:
    """The 'visually matches' check above must notice an image turned or mirrored."""
    upright = reference["Landscape"].image("thumb-256.webp")
    assert mean_difference(upright, upright.rot180()) > 30
    assert mean_difference(upright, upright.fliphor()) > 30


def test_metadata_reports_upright_size_for_orientation_6() -> None:
    path = EXIF_ORIENTATION / "Landscape_6.jpg"
    data = path.read_bytes()
    stored = pyvips.Image.new_from_buffer(data, "")
    assert stored.width < stored.height  # stored on its side
    sink, _ = process(data)
    assert sink.metadata() == {
        "media_type": "image",
        "format": "jpeg",
        "width": stored.height,
        "height": stored.width,
        "orientation": 6,
        "alpha": False,
        "pages": 1,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# --- colour, alpha, metadata ------------------------------------------------------------


def test_icc_tagged_input_comes_out_untagged_srgb() -> None:
    data = photo_like(400, 300).write_to_buffer(".jpg", profile="p3")
    assert pyvips.Image.new_from_buffer(data, "").get_typeof("icc-profile-data")
    sink, _ = process(data)
    assert_clean_srgb(sink.image("thumb-256.webp"))


@pytest.mark.parametrize(
    ("name", "bands"),
    [
        ("basn6a16.png", 4),
        ("basn4a08.png", 4),
        ("basn4a16.png", 4),
        ("tbbn2c16.png", 4),
        ("basn0g01.png", 3),
        ("basn0g08.png", 3),
        ("basn0g16.png", 3),
        ("basn2c16.png", 3),
        ("basn3p08.png", 3),
    ],
)
def test_deep_grey_and_alpha_pngs_become_8_bit_srgb(name: str, bands: int) -> None:
    """16-bit and greyscale inputs are converted; transparency is kept, never flattened."""
    sink, _ = process((PNGSUITE / name).read_bytes(), widths=(256,))
    image = sink.image("thumb-256.webp")
    assert_clean_srgb(image)
    assert image.bands == bands
    assert sink.metadata()["alpha"] is (bands == 4)


def test_generated_alpha_png_keeps_its_transparency() -> None:
    source = photo_like(640, 480)
    alpha = pyvips.Image.black(640, 480).linear(1, 200).cast("uchar")
    data = source.bandjoin(alpha).write_to_buffer(".png")
    sink, _ = process(data, widths=(256,))
    image = sink.image("thumb-256.webp")
    assert image.bands == 4
    assert abs(image.extract_band(3).avg() - 200) < 2
    assert sink.metadata() | {"sha256": None} == {
        "media_type": "image",
        "format": "png",
        "width": 640,
        "height": 480,
        "orientation": 1,
        "alpha": True,
        "pages": 1,
        "bytes": len(data),
        "sha256": None,
    }


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif", ".tif", ".avif"])
def test_every_accepted_format_decodes(suffix: str) -> None:
    data = photo_like(400, 300).write_to_buffer(suffix)
    sink, _ = process(data, widths=(256,))
    assert (sink.image("thumb-256.webp").width, sink.metadata()["width"]) == (256, 400)
    assert sink.metadata()["sha256"] == hashlib.sha256(data).hexdigest()
    assert sink.metadata()["bytes"] == len(data)


def test_animated_gif_reports_its_pages() -> None:
    frames = pyvips.Image.arrayjoin([photo_like(80, 60, seed=i) for i in range(3)], across=1)
    frames = frames.copy()
    frames.set_type(pyvips.GValue.gint_type, "page-height", 60)
    sink, _ = process(frames.write_to_buffer(".gif"), widths=(64,))
    assert (sink.metadata()["pages"], sink.metadata()["height"]) == (3, 60)


# --- limits and broken input ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_pixel_limit_raises_too_large(suffix: str) -> None:
    """A decompression bomb is refused from its header, before pixels are decoded."""
    data = photo_like(400, 300).write_to_buffer(suffix)
    with pytest.raises(TooLarge):
        decode(data, max_pixels=400 * 300 - 1)
    assert decode(data, max_pixels=400 * 300).metadata.width == 400


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_source_over_the_byte_limit_raises_too_large(suffix: str) -> None:
    """Going over max_source_bytes mid-decode is 'too large', not 'corrupt'.

    For streamed formats (JPEG, PNG) the limit is hit inside libvips' read callback.
    """
    data = photo_like(800, 600).write_to_buffer(suffix)
    with pytest.raises(TooLarge):
        decode(data, max_bytes=len(data) // 2)


VALID = sorted(p.name for p in PNGSUITE.glob("*.png") if not p.name.startswith("x"))
BROKEN = sorted(p.name for p in PNGSUITE.glob("x*.png"))


@pytest.mark.parametrize("name", VALID)
def test_every_valid_pngsuite_file_decodes(name: str) -> None:
    data = (PNGSUITE / name).read_bytes()
    decoded = decode(data, max_width=64)
    assert decoded.base.interpretation == "srgb" and decoded.base.format == "uchar"
    assert decoded.metadata.format == "png"
    assert decoded.metadata.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", BROKEN)
def test_every_broken_pngsuite_file_is_corrupt(name: str) -> None:
    with pytest.raises(CorruptMedia):
        decode((PNGSUITE / name).read_bytes())


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_truncated_upload_is_corrupt(suffix: str) -> None:
    data = photo_like(800, 600).write_to_buffer(suffix)
    with pytest.raises(CorruptMedia):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data", [os.urandom(4096), b"", b"%PDF-1.7\n" + os.urandom(512)], ids=["random", "empty", "pdf"]
)
def test_non_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        decode(data)


def test_pngsuite_listing_is_complete() -> None:
    """Guards the parametrization above against an empty or moved data directory."""
    assert len(VALID) > 150 and len(BROKEN) == 14
    assert Path(PNGSUITE / "basn6a16.png").exists()
