"""Printing and saving the memory benchmark: a rich table, the checks, where the peak was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.memory import MB, TARGET_MB, TARGET_RATIO
from bench.report import console

MIB = 1024**2


def _mb(value: int | float) -> str:
    return f"{value / MB:.0f}"


def _size(value: int) -> str:
    return f"{value / 1024 / MIB:.2f} GiB" if value >= 1024 * MIB else f"{value / MIB:.1f} MiB"


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 100 else f"{value:.1f} s"


def runs_table(result: dict[str, Any]) -> Table:
    base = result["runs"][0]
    table = Table(
        title=f"Worker memory: peak RSS in MB (10^6 bytes), one job at a time; targets ≤ "
        f"{TARGET_RATIO}× the {base['label']}, ≤ {TARGET_MB} MB",
        caption="idle: the worker process before the upload; worker: its peak (kernel VmHWM); "
        "worker +ffmpeg: the largest sum of simultaneous RSS of it and its ffmpeg children; "
        "× base: that sum over the first row's; ffmpeg: the largest ffmpeg's own peak; "
        "moto: the S3 emulator (not the worker; context only)",
    )
    columns = (
        ("input", "left"),
        ("size", "right"),
        ("length", "right"),
        ("job s", "right"),
        ("idle", "right"),
        ("worker", "right"),
        ("worker +ffmpeg", "right"),
        ("× base", "right"),
        ("ffmpeg", "right"),
        ("moto", "right"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for run in result["runs"]:
        over = run["peak_tree"] > TARGET_MB * MB
        table.add_row(
            run["label"],
            _size(run["bytes"]),
            _seconds(run["duration_s"]) if run["duration_s"] else "—",
            f"{run['processing_s']:.1f}",
            _mb(run["idle_rss"]),
            _mb(run["peak_worker"]),
            f"[{'red' if over else 'bold'}]{_mb(run['peak_tree'])}[/]",
            f"{run['peak_tree'] / base['peak_tree']:.2f}",
            _mb(run["peak_ffmpeg"]) if run["peak_ffmpeg"] else "—",
            _mb(run["peak_moto"]),
        )
    return table


def detail_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for run in result["runs"]:
        peaks = run["peaks"]
        parts = ", ".join(
            f"{name.split()[0]} {_mb(v)}" for name, v in peaks["tree_parts_at_peak"].items()
        )
        outputs = run["outputs"]
        made = (
            f"preview {_size(outputs['preview.mp4'])}"
            if "preview.mp4" in outputs
            else f"{len(outputs)} outputs"
        )
        anon, file = peaks["process_anon_at_peak"], peaks["process_file_at_peak"]
        lines.append(
            f"{run['label']}: upload {run['upload_s']:.1f} s; at the tree's peak {parts}; "
            f"worker anon {_mb(anon)} + file {_mb(file)} at its sampled peak (kernel VmHWM "
            f"{_mb(peaks['process_hwm'] or 0)}); {made}; "
            f"{peaks['samples']} samples, longest gap after the upload {peaks['max_gap_ms']:.0f} ms"
        )
    lines.append(
        f"worker idle after the last run: {_mb(result['idle_after'])} MB; the supervisor "
        f"(not counted above): {_mb(result['runs'][-1].get('master_rss', 0))} MB"
    )
    return lines


def print_memory(result: dict[str, Any]) -> None:
    console.print(runs_table(result))
    for line in detail_lines(result):
        console.print(f"[dim]{line}[/]")
    for check in result["checks"]:
        verdict = "[green]PASS[/]" if check["pass"] else "[red]FAIL[/]"
        console.print(f"{check['name']}: [bold]{check['value']}[/] {verdict}")
    env = result["options"]["env"]
    console.print(
        f"memory bench took {result['total_s']:.0f} s (inputs {result['generate_s']:.0f} s)"
        + (f"; environment {env}" if env else "")
    )


def save(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"memory-{result['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    (directory / "memory-latest.json").write_text(path.read_text())
    return path
