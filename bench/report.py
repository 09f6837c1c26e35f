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
    for name, justify in (("run", "left"), ("images", "right"), ("seconds", "right"),
                          ("images/s", "right"), ("rounds (images/s)", "left"),
                          ("CPU-s/image", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(row["name"], str(row["images"]), f"{row['seconds']:.2f}",
                      f"[bold]{row['images_per_s']:.2f}[/]",
                      "  ".join(f"{r:.2f}" for r in row["rounds"]),
                      f"{row['cpu_per_image']:.3f}")
    return table


def ratio_table(ratios: list[dict[str, Any]], target: float) -> Table:
    table = Table(title=f"Pipeline / baseline (target ≥ {target})")
    table.add_column("pipeline")
    table.add_column("ratio", justify="right")
    table.add_column("verdict")
    for item in ratios:
        verdict = "[green]PASS[/]" if item["ratio"] >= target else "[red]FAIL[/]"
        table.add_row(item["name"], f"[bold]{item['ratio']:.2f}[/]", verdict)
    return table


def stages_table(name: str, stages: dict[str, dict[str, float]]) -> Table:
    table = Table(title=f"Per-job latency, {name} (seconds, from the job records)")
    table.add_column("stage")
    for column in ("p50", "p95", "max"):
        table.add_column(column, justify="right")
    meaning = {"latency": "upload done → finished", "event": "upload done → record created",
               "queued": "created → worker started", "work": "started → finished"}
    for stage, values in stages.items():
        table.add_row(f"{stage} ({meaning.get(stage, '')})",
                      *(f"{values.get(c, 0):.3f}" for c in ("p50", "p95", "max")))
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
        table.add_row(name, *(f"{used[name] / images:.3f}" if name in used else "—"
                              for used, _, images in windows.values()))
    table.add_row("[dim]cores busy (ours)[/]", *(
        f"{sum(v for k, v in used.items() if k != 'other') / seconds:.2f}"
        for used, seconds, _ in windows.values()))
    return table


def save(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"pipeline-{result['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (directory / "latest.json").write_text(path.read_text())
    return path
