"""Printing and saving: a rich table of the runs, the ratio, the latencies, the CPU split."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 110)


def runs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Throughput (best round of each; every round below)")
    for name, justify in (
        ("run", "left"),
        ("images", "right"),
        ("seconds", "right"),
        ("images/s", "right"),
        ("rounds (images/s)", "left"),
        ("CPU-s/image", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            row["name"],
            str(row["images"]),
            f"{row['seconds']:.2f}",
            f"[bold]{row['images_per_s']:.2f}[/]",
            "  ".join(f"{r:.2f}" for r in row["rounds"]),
            f"{row['cpu_per_image']:.3f}",
        )
    return table


def ratio_table(ratios: list[dict[str, Any]], target: float) -> Table:
    table = Table(title=f"Pipeline / baseline (target ≥ {target})")
    table.add_column("pipeline")
    table.add_column("ratio (best/best)", justify="right")
    table.add_column("median of rounds", justify="right")
    table.add_column("verdict")
    for item in ratios:
        verdict = "[green]PASS[/]" if item["ratio"] >= target else "[red]FAIL[/]"
        table.add_row(
            item["name"],
            f"[bold]{item['ratio']:.2f}[/]",
            f"{item['median_round_ratio']:.2f}",
            verdict,
        )
    return table


def stages_table(name: str, stages: dict[str, dict[str, float]]) -> Table:
    table = Table(title=f"Per-job latency, {name} (seconds, from the job records)")
    table.add_column("stage")
    for column in ("p50", "p95", "max"):
        table.add_column(column, justify="right")
    meaning = {
        "latency": "upload done → finished",
        "event": "upload done → record created",
        "queued": "created → worker started",
        "work": "started → finished",
    }
    for stage, values in stages.items():
        table.add_row(
            f"{stage} ({meaning.get(stage, '')})",
            *(f"{values.get(c, 0):.3f}" for c in ("p50", "p95", "max")),
        )
    return table


def cpu_table(windows: dict[str, tuple[dict[str, float], float, int]], cores: int) -> Table:
    """CPU seconds per process group within each timed window (best round)."""
    names: list[str] = []
    for used, _, _ in windows.values():
        names += [n for n in used if n not in names]
    table = Table(title=f"Where the CPU went (CPU-seconds per image; {cores} cores)")
    table.add_column("process")
    for window in windows:
        table.add_column(window, justify="right")
    for name in names:
        table.add_row(
            name,
            *(
                f"{used[name] / images:.3f}" if name in used else "—"
                for used, _, images in windows.values()
            ),
        )
    table.add_row(
        "[dim]total (ours)[/]",
        *(
            f"{sum(v for k, v in used.items() if k != 'other') / images:.3f}"
            for used, _, images in windows.values()
        ),
    )
    table.add_row(
        "[dim]cores busy (ours)[/]",
        *(
            f"{sum(v for k, v in used.items() if k != 'other') / seconds:.2f}"
            for used, seconds, _ in windows.values()
        ),
    )
    return table


def save(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"pipeline-{result['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (directory / "latest.json").write_text(path.read_text())
    return path


NOISY = 0.10  # others' CPU above this share of the machine makes a window suspect


def print_result(result: dict[str, Any], cores: int, target: float) -> None:
    console.print(runs_table(result["rows"]))
    console.print(ratio_table(result["ratios"], target))
    for item in result["ratios"]:
        console.print(stages_table(item["name"], result["pipeline"][item["variant"]]["stages"]))
    for row in result["rows"][1:]:
        console.print(
            f"{row['short']}: uploads all returned after {row['upload_seconds']:.2f} s, "
            f"first job started after {row['first_job_seconds']:.2f} s, "
            f"last manifest after {row['seconds']:.2f} s"
        )
    windows = {row["short"]: (row["cpu"], row["seconds"], row["images"]) for row in result["rows"]}
    console.print(cpu_table(windows, cores))
    for line in overhead_lines(result["rows"]):
        console.print(line)
    for row in result["rows"]:
        if row["noise"] > NOISY:
            console.print(
                f"[yellow]warning[/]: processes that are not ours used "
                f"{row['noise']:.0%} of the machine during the best '{row['short']}' "
                "round; its figures are less reliable (re-run on a quiet machine)"
            )
    verdict = "[green]PASS[/]" if result["pass"] else "[red]FAIL[/]"
    console.print(
        f"[bold]ratio pipeline/baseline = {result['ratio']:.2f}[/] ({result['headline']}; "
        f"median of rounds {result['median_round_ratio']:.2f}; target ≥ {target}) {verdict}"
    )
    for problem in result["problems"]:
        console.print(f"[red]problem[/]: {problem}")


LOCAL_ONLY = ("moto", "bench")  # the S3 emulator and the uploading client: elsewhere in production


def overhead_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Explain each pipeline's ratio by CPU per image, and project it without the local-only parts.

    When both runs keep the cores busy, images/s is (cores busy) / (CPU-s per image), so the
    ratio is the CPU-per-image ratio times the busy ratio. The projection drops the CPU of
    moto and of the uploader, which on AWS run elsewhere; it is an estimate, not a measurement.
    """
    base = rows[0]
    base_cpu = base["cpu_per_image"]
    base_busy = base_cpu * base["images"] / base["seconds"]
    lines = []
    for row in rows[1:]:
        cpu = row["cpu"]
        images = row["images"]
        busy = row["cpu_per_image"] * images / row["seconds"]
        parts = {
            "worker": cpu.get("worker", 0.0) / images - base_cpu,
            **{name: cpu.get(name, 0.0) / images for name in LOCAL_ONLY},
            "redis+poller+api": sum(cpu.get(n, 0.0) for n in ("redis", "poller", "api")) / images,
        }
        local = sum(cpu.get(name, 0.0) for name in LOCAL_ONLY) / images
        lines.append(
            f"{row['short']}: {row['cpu_per_image'] / base_cpu:.2f}× the baseline's CPU per image "
            f"(+{row['cpu_per_image'] - base_cpu:.3f} s: "
            + ", ".join(
                f"{name} {'+' if name == 'worker' else ''}{value:.3f}"
                for name, value in parts.items()
            )
            + f"); ratio ≈ {base_cpu / row['cpu_per_image']:.2f} (CPU per image) × "
            f"{busy / base_busy:.2f} (cores busy {busy:.2f} vs {base_busy:.2f}); projection with "
            f"moto and the bench's uploads off these cores, at equal core use: "
            f"{base_cpu / (row['cpu_per_image'] - local):.2f}"
        )
    return lines
