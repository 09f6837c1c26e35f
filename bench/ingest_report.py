"""The ingest benchmark's report: the rich table, what limited each side, the profile
breakdown, the verdict, and the JSON kept in ``bench/results``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.ingest_breakdown import THEN
from bench.report import console

BUSY = 0.9  # a process using this much of a core is saturated
NOISY = 0.10  # others' CPU above this share of the machine makes a window suspect
COLUMNS = (
    ("side", "left"),
    ("req/s", "right"),
    ("rounds", "left"),
    ("p50 ms", "right"),
    ("p99 ms", "right"),
    ("status", "left"),
    ("server", "right"),
    ("client", "right"),
    ("redis", "right"),
    ("other", "right"),
)


def ingest_table(result: dict[str, Any]) -> Table:
    opts = result["options"]
    table = Table(
        title=f"Ingest: POST /v1/jobs, {opts['connections']} keep-alive connections, "
        f"median of {opts['rounds']} × {opts['seconds']:g} s",
        caption="cores: CPU-seconds per second of the window; server is one uvicorn process "
        "(one core at most); other: processes that are not ours",
    )
    for name, justify in COLUMNS:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for name, side in result["sides"].items():
        statuses = ", ".join(
            f"[{'green' if s == '202' else 'red'}]{s}×{n}[/]" for s, n in side["statuses"].items()
        )
        cores = side["cores"]
        table.add_row(
            "bare" if name == "bare" else "real API",
            f"[bold]{side['per_s']:.0f}[/]",
            " ".join(f"{r:.0f}" for r in side["rounds"]),
            f"{side['p50_ms']:.2f}",
            f"{side['p99_ms']:.2f}",
            statuses,
            *(f"{cores[k]:.2f}" for k in ("server", "client", "redis", "other")),
        )
    return table


def bottleneck(name: str, cores: dict[str, float]) -> str:
    """Which process limited this side: the point is to show it was not the client."""
    if cores["client"] >= BUSY:
        return f"{name}: [red]the client used {cores['client']:.2f} cores: client-bound[/]"
    if cores["server"] >= BUSY:
        return (
            f"{name}: server-bound (the server used {cores['server']:.2f} of its one core; "
            f"client {cores['client']:.2f})"
        )
    return (
        f"{name}: [yellow]the server used only {cores['server']:.2f} of its core[/] (client "
        f"{cores['client']:.2f}, redis {cores['redis']:.2f}, others {cores['other']:.2f}): it "
        "waited, e.g. blocked on Redis round trips, or the machine was busy"
    )


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """The header, then one line per piece, indented under its parent (``a → b``)."""
    lines = [
        f"profile (cProfile, {profile['requests']} requests at {profile['per_s_profiled']:.0f} "
        f"req/s under the profiler; µs per request, inflated by cProfile): create_job "
        f"{profile['create_job_us']:.0f}, outside it (uvicorn, Starlette, asyncio) "
        f"{profile['outside_create_job_us']:.0f}, idle in epoll {profile['idle_us']:.0f}; "
        f"Redis round trips per request "
        f"{profile['redis_round_trips_per_request']:.2f}, in their socket calls (send, "
        f"wait for the answer) {profile['redis_socket_us_per_request']:.0f}"
    ]
    for label, us in profile["us_per_request"].items():
        path = label.split(THEN)
        lines.append(f"{'  ' * len(path)}{path[-1]}: {us:.0f}")
    return lines


def print_ingest(result: dict[str, Any]) -> None:
    console.print(ingest_table(result))
    uv = result["uvicorn"]
    console.print(
        f"[dim]both servers: {' '.join(uv['argv'])}; loop "
        f"{uv['loop']}, http {uv['http']}, workers {uv['workers']}[/]"
    )
    for name, side in result["sides"].items():
        console.print(bottleneck(name, side["cores"]))
        if side["cores"]["other"] > NOISY * (os.cpu_count() or 1):
            console.print(
                f"[yellow]warning[/]: other processes used {side['cores']['other']:.2f} cores "
                f"during the {name} windows; re-run on a quiet machine"
            )
    last_real = next(w for w in reversed(result["windows"]) if w["side"] == "real")
    calls = last_real["redis_calls_per_request"]
    console.print(
        "Redis commands per real request (INFO commandstats; those inside Lua count too): "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(calls.items()))
    )
    if result["profile"]:
        for line in profile_lines(result["profile"]):
            console.print(line)
    verdict = "[green]PASS[/]" if result["pass"] else "[red]FAIL[/]"
    bare, real = result["sides"]["bare"], result["sides"]["real"]
    console.print(
        f"[bold]ingest real/bare = {result['ratio']:.2f}[/] ({real['per_s']:.0f} / "
        f"{bare['per_s']:.0f} req/s; median of rounds {result['median_round_ratio']:.2f}; "
        f"target ≥ {result['target']}) {verdict}"
    )
    for problem in result["problems"]:
        console.print(f"[red]problem[/]: {problem}")
    for w in result["windows"]:
        for sample in w["samples"][:1]:
            console.print(f"[dim]{w['side']} round {w['round']}, a non-202:[/] {sample!r}")


def save(result: dict[str, Any], directory: Path) -> Path:
    """``ingest-<started>.json`` and a copy as ``ingest-latest.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ingest-{result['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    (directory / "ingest-latest.json").write_text(path.read_text())
    return path
