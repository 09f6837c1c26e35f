"""From the rounds' raw results to the figures that are printed and saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.baseline import BaselineResult
from bench.pipeline import PipelineResult


@dataclass(frozen=True)
class Variant:
    """One pipeline configuration: threads per worker process and extra environment."""

    threads: int
    label: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"×{self.threads}t" + (f" {self.label}" if self.label else "")


def summarize(
    settings: dict[str, Any],
    info: dict[str, Any],
    started: str,
    baselines: list[BaselineResult],
    runs: list[Variant],
    results: dict[str, list[PipelineResult]],
) -> dict[str, Any]:
    cores = info["cores"] or 1
    processes = settings["processes"]
    best_b = max(baselines, key=lambda r: r.images_per_s)
    rows = [
        {
            "name": f"baseline: pyvips, {processes} processes",
            "short": "baseline",
            "images": best_b.images,
            "seconds": best_b.seconds,
            "images_per_s": best_b.images_per_s,
            "rounds": [r.images_per_s for r in baselines],
            "cpu_per_image": cpu_per_image(best_b.cpu, best_b.images),
            "cpu": best_b.cpu,
            "noise": noise(best_b.cpu, best_b.seconds, cores),
        }
    ]
    ratios: list[dict[str, Any]] = []
    problems: list[str] = []
    detail: dict[str, Any] = {}
    for variant in runs:
        rounds = results[variant.name]
        best = max(rounds, key=lambda r: r.images_per_s)
        name = (
            f"pipeline: {processes} processes × {variant.threads} thread"
            f"{'s' if variant.threads > 1 else ''}"
            + (f", {variant.label}" if variant.label else "")
        )
        rows.append(
            {
                "name": name,
                "short": f"pipeline {variant.name}",
                "images": best.images,
                "seconds": best.seconds,
                "images_per_s": best.images_per_s,
                "rounds": [r.images_per_s for r in rounds],
                "cpu_per_image": cpu_per_image(best.cpu, best.images),
                "cpu": best.cpu,
                "upload_seconds": best.upload_seconds,
                "first_job_seconds": best.first_job_seconds,
                "noise": noise(best.cpu, best.seconds, cores),
            }
        )
        ratios.append(
            {
                "name": name,
                "variant": variant.name,
                "threads": variant.threads,
                "env": variant.env,
                "ratio": best.images_per_s / best_b.images_per_s,
                "median_round_ratio": median(
                    [
                        p.images_per_s / b.images_per_s
                        for b, p in zip(baselines, rounds, strict=True)
                    ]
                ),
            }
        )
        detail[variant.name] = {"stages": best.stages, "rounds": [_round(r) for r in rounds]}
        for run in rounds:
            if run.failed:
                problems.append(f"{name}: jobs did not succeed: {run.failed}")
            problems += [f"{name}: {m}" for m in compare(best_b.outputs, run.outputs)]
    headline = ratios[0]  # the first thread count, without a variant's environment
    return {
        "started": started,
        "machine": info,
        "settings": settings,
        "rows": rows,
        "ratios": ratios,
        "ratio": headline["ratio"],
        "median_round_ratio": headline["median_round_ratio"],
        "headline": headline["name"],
        "pass": headline["ratio"] >= settings["target"],
        "pipeline": detail,
        "baseline_rounds": [
            {"seconds": b.seconds, "images_per_s": b.images_per_s, "cpu": b.cpu} for b in baselines
        ],
        "problems": problems,
    }


def cpu_per_image(cpu: dict[str, float], images: int) -> float:
    """Our CPU seconds per image (every process we started; not others' load)."""
    return sum(v for k, v in cpu.items() if k != "other") / images


def noise(cpu: dict[str, float], seconds: float, cores: int) -> float:
    """Share of the machine that processes not ours used during the window."""
    return cpu.get("other", 0.0) / (seconds * cores)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def compare(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """The pipeline must have made the same derivatives: same dimensions, same source hash."""
    problems = []
    for name, outputs in expected.items():
        theirs = got.get(name)
        if theirs is None:
            problems.append(f"{name}: no manifest")
            continue
        for output, value in outputs.items():
            mine = theirs.get(output)
            same = (
                mine == value
                if output == "metadata.json"
                else (mine is not None and mine[:2] == value[:2])
            )
            if not same:
                problems.append(f"{name}/{output}: pipeline {mine} ≠ baseline {value}")
    return problems


def _round(run: PipelineResult) -> dict[str, Any]:
    return {
        "seconds": run.seconds,
        "images_per_s": run.images_per_s,
        "upload_seconds": run.upload_seconds,
        "first_job_seconds": run.first_job_seconds,
        "cpu": run.cpu,
        "stages": run.stages,
        "failed": run.failed,
    }
