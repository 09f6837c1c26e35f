"""Processing steps. Every step has the same shape, ``(image, step, sink) -> outputs``, so
that a pipeline spec is data: an ordered list of step values looked up here by ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyvips

from heavylift.jobs.models import OutputEntry
from heavylift.jobs.spec import ImageStep, MetadataStep, ThumbnailStep
from heavylift.media.image import DecodedImage, resize_to_width
from heavylift.media.sink import OutputSink, Writable, write_json

StepFunction = Callable[[DecodedImage, Any, OutputSink], list[OutputEntry]]


# AV1 effort 3 (libaom speed 6, avifenc's default): a 1024 px thumbnail in ~0.1-0.3 s on one
# core; effort 4, libvips' default, takes ~1-1.6 s for at most ~20 % fewer bytes.
AVIF_EFFORT = 3
WEBP_EFFORT = 4
WHITE = 255.0  # what a JPEG shows where the source was transparent

Save = Callable[[pyvips.Image, pyvips.Target, int], None]


@dataclass(frozen=True)
class Encoding:
    suffix: str
    content_type: str
    save: Save


def _save_webp(image: pyvips.Image, target: pyvips.Target, quality: int) -> None:
    image.webpsave_target(target, Q=quality, keep="none", effort=WEBP_EFFORT)


def _save_avif(image: pyvips.Image, target: pyvips.Target, quality: int) -> None:
    image.heifsave_target(
        target, Q=quality, keep="none", compression="av1", effort=AVIF_EFFORT, bitdepth=8
    )


def _save_jpeg(image: pyvips.Image, target: pyvips.Target, quality: int) -> None:
    """JPEG has no alpha channel: transparent parts become white, as on a typical page."""
    if image.hasalpha():
        image = image.flatten(background=[WHITE] * (image.bands - 1))
    image.jpegsave_target(target, Q=quality, keep="none", optimize_coding=True)


ENCODINGS: dict[str, Encoding] = {
    "webp": Encoding("webp", "image/webp", _save_webp),
    "avif": Encoding("avif", "image/avif", _save_avif),
    "jpeg": Encoding("jpg", "image/jpeg", _save_jpeg),
}


def thumbnail(image: DecodedImage, step: ThumbnailStep, sink: OutputSink) -> list[OutputEntry]:
    """``thumb-<width>.webp|avif|jpg`` for each width; smaller sources keep their own size."""
    encoding = ENCODINGS[step.format]
    outputs = []
    for width in step.widths:
        derived = resize_to_width(image.base, width)
        outputs.append(
            sink.write(
                f"thumb-{width}.{encoding.suffix}",
                encoding.content_type,
                _writer(derived, encoding.save, step.quality),
                width=derived.width,
                height=derived.height,
            )
        )
    return outputs


def metadata(image: DecodedImage, step: MetadataStep, sink: OutputSink) -> list[OutputEntry]:
    return [write_json(sink, "metadata.json", image.metadata)]


STEPS: dict[str, StepFunction] = {"thumbnail": thumbnail, "metadata": metadata}


def run_steps(
    image: DecodedImage, steps: tuple[ImageStep, ...], sink: OutputSink
) -> list[OutputEntry]:
    outputs: list[OutputEntry] = []
    for step in steps:
        outputs.extend(STEPS[step.kind](image, step, sink))
    return outputs


def _writer(image: pyvips.Image, save: Save, quality: int) -> Callable[[Writable], None]:
    """Encode straight into the sink as libvips produces bytes: no whole-file buffer here."""

    def produce(out: Writable) -> None:
        target = pyvips.TargetCustom()
        target.on_write(out.write)
        save(image, target, quality)

    return produce
