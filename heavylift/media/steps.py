"""Processing steps. Every step has the same shape, ``(image, step, sink) -> outputs``, so
that a pipeline spec is data: an ordered list of step values looked up here by ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyvips

from heavylift.media.image import DecodedImage, resize_to_width
from heavylift.media.sink import OutputSink, Writable, write_json
from heavylift.models import OutputEntry
from heavylift.spec import ImageStep, MetadataStep, ThumbnailStep

StepFunction = Callable[[DecodedImage, Any, OutputSink], list[OutputEntry]]


def thumbnail(image: DecodedImage, step: ThumbnailStep, sink: OutputSink) -> list[OutputEntry]:
    """``thumb-<width>.webp`` for each width; smaller sources keep their own size."""
    outputs = []
    for width in step.widths:
        derived = resize_to_width(image.base, width)
        outputs.append(
            sink.write(
                f"thumb-{width}.{step.format}",
                "image/webp",
                _webp_writer(derived, step.quality),
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


def _webp_writer(image: pyvips.Image, quality: int) -> Callable[[Writable], None]:
    def produce(out: Writable) -> None:
        target = pyvips.TargetCustom()
        target.on_write(out.write)
        image.webpsave_target(target, Q=quality, keep="none", effort=4)

    return produce
