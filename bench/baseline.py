"""The baseline: what a competent programmer would write with pyvips alone.

Local files in, local files out, no queue, no object store. One process per core
(multiprocessing, as many as the pipeline has worker processes), each image handled whole
by one process, the list handed out one image at a time so no process idles while another
has a backlog. Per image, the same work as ``heavylift.media`` does for the default spec:

* ``Image.thumbnail(path, 1024, height=4096, size="down")`` — libvips' shrink-on-load, so
  the 12 MP JPEG is decoded at reduced size — made memory-resident once;
* ``thumb-1024.webp`` from it, then ``thumb-256.webp`` from the 1024 image with
  ``thumbnail_image`` (never enlarged, height capped at 4× width), both
  ``webpsave(Q=80, keep="none", effort=4)``;
* ``metadata.json`` with the source's dimensions, orientation, alpha and sha256.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIDTHS = (256, 1024)
QUALITY = 80
MAX_ASPECT = 4

_out_root: Path | None = None


@dataclass(frozen=True)
class BaselineResult:
    images: int
    seconds: float
    outputs: dict[str, dict[str, Any]]  # input name -> {output name: [width, height, bytes]}
    cpu: dict[str, float]  # CPU seconds per process over the timed window, and others'

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def _init(out_root: str, vips_concurrency: int | None) -> None:
    global _out_root
    if vips_concurrency:
        os.environ["VIPS_CONCURRENCY"] = str(vips_concurrency)
    import pyvips

    pyvips.cache_set_max(0)  # every image is seen once
    _out_root = Path(out_root)


def process_one(path_text: str) -> tuple[str, dict[str, Any]]:
    import pyvips

    assert _out_root is not None
    path = Path(path_text)
    out_dir = _out_root / path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)

    header = pyvips.Image.new_from_file(str(path), access="sequential")
    base = pyvips.Image.thumbnail(
        str(path), max(WIDTHS), height=max(WIDTHS) * MAX_ASPECT, size="down"
    )
    if base.interpretation != "srgb" or base.format != "uchar":
        base = base.colourspace("srgb")
    base = base.copy_memory()

    outputs: dict[str, Any] = {}
    for width in sorted(WIDTHS, reverse=True):  # 1024 first, then 256 derived from memory
        derived = base
        if base.width > width or base.height > width * MAX_ASPECT:
            derived = base.thumbnail_image(width, height=width * MAX_ASPECT, size="down")
        target = out_dir / f"thumb-{width}.webp"
        derived.webpsave(str(target), Q=QUALITY, keep="none", effort=4)
        outputs[target.name] = [derived.width, derived.height, target.stat().st_size]

    orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    metadata = {
        "media_type": "image",
        "format": "jpeg",
        "width": header.width,
        "height": header.height,
        "orientation": orientation,
        "alpha": bool(header.hasalpha()),
        "pages": 1,
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))
    outputs["metadata.json"] = metadata["sha256"]
    return path.name, outputs


class Baseline:
    """A pool of ``processes`` pyvips processes, started and warmed up once, timed per batch."""

    def __init__(self, out_root: Path, processes: int, vips_concurrency: int | None = None) -> None:
        self.out_root = out_root
        self.processes = processes
        ctx = multiprocessing.get_context("spawn")
        self.pool = ctx.Pool(
            processes, initializer=_init, initargs=(str(out_root), vips_concurrency)
        )

    def warm_up(self, paths: list[Path]) -> None:
        """One image per process, untimed, so imports and libvips start-up are not counted."""
        jobs = [
            self.pool.apply_async(process_one, (str(paths[i % len(paths)]),))
            for i in range(self.processes)
        ]
        for job in jobs:
            job.get(timeout=120)

    def pids(self) -> dict[str, int]:
        # multiprocessing.Pool names its processes nowhere public
        processes = self.pool._pool  # type: ignore[attr-defined]  # noqa: SLF001
        return {f"baseline-{i}": proc.pid for i, proc in enumerate(processes)}

    def run(self, paths: list[Path]) -> BaselineResult:
        """Wall-clock time for the pool to make every derivative of ``paths``."""
        from bench import cpu

        before = cpu.snapshot({}, self.pids())
        started = time.perf_counter()
        results = list(self.pool.imap_unordered(process_one, [str(p) for p in paths], chunksize=1))
        seconds = time.perf_counter() - started
        used = cpu.delta(before, cpu.snapshot({}, self.pids()))
        return BaselineResult(images=len(paths), seconds=seconds, outputs=dict(results), cpu=used)

    def close(self) -> None:
        """Stop the pool's own processes (by pid, through the pool), even mid-batch."""
        self.pool.terminate()
        self.pool.join()
