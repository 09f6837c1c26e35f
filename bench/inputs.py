"""The input set: distinct photo-like JPEGs made with libvips, written once per run."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

FIRST_SEED = 1000


def _write(args: tuple[str, int, int, int]) -> str:
    from infra.samples import write_sample  # imports pyvips in the helper process only

    path, width, height, seed = args
    return str(write_sample(Path(path), width, height, seed=seed))


def make_inputs(
    directory: Path,
    count: int,
    width: int,
    height: int,
    *,
    prefix: str = "img",
    first_seed: int = FIRST_SEED,
    processes: int = 2,
) -> list[Path]:
    """``count`` JPEGs (Q=88, like a phone photo), each from its own seed, so no two are alike.

    Written from helper processes so that the benchmark process never initialises libvips
    (its thread pool would then live on, idle, next to the measured work).
    """
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(directory / f"{prefix}-{i:03d}.jpg"), width, height, first_seed + i)
        for i in range(count)
    ]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [Path(p) for p in pool.map(_write, jobs)]
