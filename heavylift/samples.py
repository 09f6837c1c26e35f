"""Generated sample images for the demo, the tests and the benchmarks.

Smooth noise plus grain looks enough like a photo to compress like one (a 12 MP JPEG of
this is ~3.7 MB, close to a phone picture), and needs no files or network.
"""

from __future__ import annotations

from pathlib import Path

import pyvips

FORMATS = ("jpg", "png", "webp", "gif", "tif", "avif")


def photo_like(width: int, height: int, seed: int = 1) -> pyvips.Image:
    bands = [
        pyvips.Image.perlin(width, height, cell_size=cell, seed=seed + i)
        for i, cell in enumerate((256, 180, 300))
    ]
    rgb = bands[0].bandjoin(bands[1:])
    grain = pyvips.Image.gaussnoise(width, height, sigma=12, seed=seed)
    return ((rgb + 1) * 110 + grain).cast("uchar").copy(interpretation="srgb")


def write_sample(path: Path, width: int, height: int, seed: int = 1, alpha: bool = False) -> Path:
    image = photo_like(width, height, seed)
    if alpha:
        image = image.bandjoin(pyvips.Image.black(width, height).linear(1, 200).cast("uchar"))
    path.parent.mkdir(parents=True, exist_ok=True)
    options = "[Q=88]" if path.suffix in (".jpg", ".jpeg") else ""
    image.write_to_file(f"{path}{options}")
    return path


def demo_samples(directory: Path) -> list[Path]:
    """One of each accepted format: a 12 MP JPEG like a phone photo, and smaller others."""
    return [
        write_sample(directory / "photo-12mp.jpg", 4000, 3000, seed=1),
        write_sample(directory / "logo-alpha.png", 1600, 1200, seed=2, alpha=True),
        write_sample(directory / "banner.webp", 2400, 800, seed=3),
        write_sample(directory / "animation-frame.gif", 480, 360, seed=4),
        write_sample(directory / "scan.tif", 2000, 2800, seed=5),
        write_sample(directory / "still.avif", 1920, 1080, seed=6),
    ]
