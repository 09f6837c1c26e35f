"""Thumbnails in the format a job asks for (WebP, AVIF or JPEG), within configured bounds.

Every format must decode back at the right size with the right content type, JPEG must not
turn transparency black, AVIF must really be AV1 (not HEVC, which browsers cannot show),
video posters must follow the same choice, and a client's options outside the operator's
bounds must fail with a message that names the bound.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import pyvips
from pydantic import ValidationError

from heavylift.config import Settings
from heavylift.jobs.models import OutputEntry
from heavylift.jobs.spec import (
    MediaKind,
    OutputOptions,
    PipelineSpec,
    PosterStep,
    ThumbnailFormat,
    ThumbnailStep,
    spec_for,
)
from heavylift.media.image import decode_image
from heavylift.media.process import process_media
from heavylift.media.steps import run_steps
from heavylift.media.stream import SourceStream
from infra.samples import photo_like, write_video
from tests.unit.media_helpers import MemorySink, context_for, stream_for

FORMATS: dict[ThumbnailFormat, tuple[str, str, str]] = {
    # format: (key suffix, content type, libvips loader that reads it back)
    "webp": ("webp", "image/webp", "webpload_buffer"),
    "avif": ("avif", "image/avif", "heifload_buffer"),
    "jpeg": ("jpg", "image/jpeg", "jpegload_buffer"),
}


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def image_outputs_of(
    data: bytes, fmt: ThumbnailFormat, widths: tuple[int, ...] = (256, 1024)
) -> tuple[MemorySink, list[OutputEntry]]:
    spec = PipelineSpec.default(widths, 80, fmt)
    decoded = decode_image(SourceStream(io.BytesIO(data), 10**12), spec.image_max_width, 10**8)
    sink = MemorySink()
    return sink, run_steps(decoded, spec.image, sink)


def half_transparent_red(width: int = 400, height: int = 300) -> bytes:
    """Opaque red on the right half, fully transparent (but black underneath) on the left."""
    red = pyvips.Image.black(width, height).new_from_image([255, 0, 0]).cast("uchar")
    left = pyvips.Image.black(width // 2, height)
    alpha = left.join(left.invert(), "horizontal").cast("uchar")
    return red.bandjoin(alpha).copy(interpretation="srgb").write_to_buffer(".png")


# --- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_decodes_back_at_its_size(fmt: ThumbnailFormat) -> None:
    suffix, content_type, loader = FORMATS[fmt]
    sink, outputs = image_outputs_of(photo_like(640, 480).write_to_buffer(".jpg"), fmt)
    assert set(sink.files) == {f"thumb-256.{suffix}", f"thumb-1024.{suffix}", "metadata.json"}
    sizes = {"thumb-256": (256, 192), "thumb-1024": (640, 480)}  # never upscaled
    entries = {o.key: o for o in outputs}
    for stem, size in sizes.items():
        key = f"{stem}.{suffix}"
        image = sink.image(key)
        assert (image.width, image.height) == size
        assert (entries[key].width, entries[key].height) == size
        assert sink.types[key] == entries[key].content_type == content_type
        assert image.get("vips-loader") == loader
        assert not set(image.get_fields()) & {"exif-data", "icc-profile-data", "xmp-data"}


def test_avif_is_av1_not_hevc() -> None:
    sink, _ = image_outputs_of(photo_like(320, 240).write_to_buffer(".png"), "avif", (256,))
    data = sink.files["thumb-256.avif"]
    assert data[4:12] == b"ftypavif"
    assert sink.image("thumb-256.avif").get("heif-compression") == "av1"


def test_jpeg_of_a_transparent_source_is_flattened_onto_white() -> None:
    sink, _ = image_outputs_of(half_transparent_red(), "jpeg", (256,))
    image = sink.image("thumb-256.jpg")
    assert (image.width, image.height, image.bands) == (256, 192, 3)
    transparent, opaque = image.crop(0, 0, 100, 192), image.crop(156, 0, 100, 192)
    assert [transparent.extract_band(b).avg() for b in range(3)] == pytest.approx(
        [255, 255, 255], abs=3
    )
    assert [opaque.extract_band(b).avg() for b in range(3)] == pytest.approx([255, 0, 0], abs=6)


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_formats_with_alpha_keep_it(fmt: ThumbnailFormat) -> None:
    suffix = FORMATS[fmt][0]
    sink, _ = image_outputs_of(half_transparent_red(), fmt, (256,))
    image = sink.image(f"thumb-256.{suffix}")
    assert image.bands == 4
    assert image.extract_band(3).crop(0, 0, 100, 192).max() <= 8
    assert image.extract_band(3).crop(156, 0, 100, 192).min() >= 247


# --- what a client may ask for ----------------------------------------------------------------


def test_no_options_is_the_default_spec_byte_for_byte() -> None:
    """S3 job ids hash the spec's JSON: asking for nothing must not change any id."""
    config = settings()
    default = PipelineSpec.default(config.thumbnail_widths, config.thumbnail_quality)
    for options in (None, OutputOptions(), OutputOptions(widths=(1024, 256), format="webp")):
        spec = spec_for(options, config)
        assert spec == default
        assert json.dumps(spec.model_dump(mode="json")) == json.dumps(
            default.model_dump(mode="json")
        )


def test_defaults_fill_in_what_was_not_asked() -> None:
    config = settings(thumbnail_widths=(320, 640), thumbnail_quality=70)
    thumbs = spec_for(OutputOptions(format="avif"), config).image[0]
    assert thumbs == ThumbnailStep(widths=(320, 640), quality=70, format="avif")
    thumbs = spec_for(OutputOptions(widths=(800, 100), quality=55), config).image[0]
    assert thumbs == ThumbnailStep(widths=(100, 800), quality=55, format="webp")


def test_posters_get_the_same_thumbnails_as_images() -> None:
    spec = spec_for(OutputOptions(widths=(512,), format="jpeg", quality=90), settings())
    poster = next(s for s in spec.video if isinstance(s, PosterStep))
    assert poster.thumbnails == spec.image[0]
    assert poster.max_width == PosterStep().max_width  # the poster itself is unchanged


@pytest.mark.parametrize(
    ("options", "overrides", "bound"),
    [
        pytest.param({"widths": ()}, {}, "at least one width", id="no-widths"),
        pytest.param({"widths": (8,)}, {}, "minimum width 16", id="too-narrow"),
        pytest.param({"widths": (4097,)}, {}, "max_output_width 4096", id="too-wide"),
        pytest.param(
            {"widths": (1024,)}, {"max_output_width": 800}, "max_output_width 800", id="configured"
        ),
        pytest.param(
            {"widths": (100, 200, 300)},
            {"max_outputs_per_job": 2},
            "max_outputs_per_job is 2",
            id="too-many",
        ),
        pytest.param({"widths": (256, 512, 256)}, {}, "duplicate width 256", id="duplicate"),
        pytest.param({"quality": 0}, {}, "quality range 1..100", id="quality-low"),
        pytest.param({"quality": 101}, {}, "quality range 1..100", id="quality-high"),
        pytest.param(
            {"format": "avif"},
            {"output_formats": ("webp", "jpeg")},
            "output_formats (webp, jpeg)",
            id="format-not-allowed",
        ),
    ],
)
def test_each_bound_is_named_when_broken(
    options: dict[str, Any], overrides: dict[str, Any], bound: str
) -> None:
    with pytest.raises(ValueError, match=bound.replace("(", r"\(").replace(")", r"\)")):
        spec_for(OutputOptions(**options), settings(**overrides))


def test_exactly_at_the_bounds_is_allowed() -> None:
    config = settings(max_output_width=2000, max_outputs_per_job=3)
    thumbs = spec_for(OutputOptions(widths=(2000, 16, 500), quality=100), config).image[0]
    assert thumbs == ThumbnailStep(widths=(16, 500, 2000), quality=100)
    assert spec_for(OutputOptions(quality=1), config).image[0].quality == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("fields", [{"format": "png"}, {"widths": (256,), "crop": True}])
def test_unknown_formats_and_fields_are_refused_when_parsed(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):  # a ValueError too, so the API's 422 covers both
        OutputOptions(**fields)


# --- video posters ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["avif", "jpeg"])
def test_video_poster_thumbnails_follow_the_format(fmt: ThumbnailFormat, tmp_path: Path) -> None:
    suffix, content_type, _ = FORMATS[fmt]
    source = write_video(tmp_path, "mp4", seconds=1)
    spec = spec_for(OutputOptions(widths=(256,), format=fmt), settings())
    sink = MemorySink()
    process_media(stream_for(source), spec, sink, context_for(source), MediaKind.VIDEO)
    key = f"thumb-256.{suffix}"
    assert set(sink.files) == {"poster.jpg", key, "preview.mp4", "metadata.json"}
    assert sink.types[key] == content_type
    thumb = sink.image(key)
    assert (thumb.width, thumb.height, thumb.bands) == (256, 144, 3)
    assert sink.types["poster.jpg"] == "image/jpeg"  # the poster itself stays JPEG
