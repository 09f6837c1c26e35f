"""The ingest benchmark's measurements: one timed window against one server, and the
summary of all windows (medians per side, the real/bare ratio, anything that went wrong).

A window records the rate, latency quantiles and statuses from :mod:`bench.ingest_client`,
the CPU of every process involved (from ``/proc``, so the report can name the bottleneck)
and the Redis commands per request (``INFO commandstats``).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from bench import cpu
from bench.ingest_client import LoadResult, run_load
from bench.ingest_servers import HOST

SIDES = ("bare", "real")
CPU_COLUMNS = ("server", "client", "redis", "moto", "other")


@dataclass
class Side:
    """One server under test and the request bytes it gets."""

    name: str
    port: int
    pid: int
    make: Callable[[], bytes]


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per Redis command so far (``INFO commandstats``; commands run inside Lua
    scripts count too)."""
    stats: dict[str, dict[str, int]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def measure(
    side: Side,
    others: dict[str, int],
    client: redis.Redis,
    *,
    connections: int,
    seconds: float,
) -> dict[str, Any]:
    """One timed window against ``side``: rate, latency, statuses, CPU, Redis commands.
    ``others`` names the other processes to account for (redis, moto) by pid."""
    pids = {"server": side.pid, **others, "client": os.getpid()}
    calls = command_calls(client)
    before = cpu.snapshot({}, pids)
    load = run_load(HOST, side.port, side.make, connections=connections, seconds=seconds)
    used = cpu.delta(before, cpu.snapshot({}, pids))
    after = command_calls(client)
    per_request = {
        name: round((n - calls.get(name, 0)) / max(load.requests, 1), 2)
        for name, n in after.items()
        if name != "info" and n != calls.get(name, 0)
    }
    return window(side.name, load, used, per_request)


def window(
    name: str, load: LoadResult, used: dict[str, float], redis_calls: dict[str, float]
) -> dict[str, Any]:
    latencies = sorted(load.latencies)
    return {
        "side": name,
        "requests": load.requests,
        "seconds": round(load.seconds, 3),
        "per_s": round(load.per_s, 1),
        "p50_ms": round(quantile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(quantile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "samples": load.samples,
        "errors": load.errors[:5],
        "cpu_s": used,
        "cores": {k: round(v / load.seconds, 2) for k, v in used.items()} if load.seconds else {},
        "redis_calls_per_request": redis_calls,
    }


def quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(
    windows: list[dict[str, Any]], options: dict[str, Any], target: float, started: str
) -> dict[str, Any]:
    """Medians per side over the rounds, the ratio of the medians and the median of the
    per-round ratios; any non-202 or connection error is a problem (and fails the run)."""
    sides = {name: _side([w for w in windows if w["side"] == name]) for name in SIDES}
    bare, real = sides["bare"]["per_s"], sides["real"]["per_s"]
    ratio = real / bare if bare else 0.0
    per_round = [
        r / b if b else 0.0
        for r, b in zip(sides["real"]["rounds"], sides["bare"]["rounds"], strict=True)
    ]
    problems = [
        f"{name}: {n} response(s) with status {status}"
        for name, side in sides.items()
        for status, n in side["statuses"].items()
        if status != "202"
    ]
    problems += [f"{w['side']} round {w['round']}: {e}" for w in windows for e in w["errors"]]
    return {
        "started": started,
        "options": options,
        "sides": sides,
        "windows": windows,
        "ratio": round(ratio, 3),
        "median_round_ratio": round(statistics.median(per_round), 3),
        "target": target,
        "problems": problems,
        "pass": ratio >= target and not problems,
    }


def _side(mine: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for w in mine:
        for status, n in w["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "per_s": statistics.median(w["per_s"] for w in mine),
        "rounds": [w["per_s"] for w in mine],
        "p50_ms": statistics.median(w["p50_ms"] for w in mine),
        "p99_ms": statistics.median(w["p99_ms"] for w in mine),
        "statuses": statuses,
        "cores": {k: statistics.median(w["cores"].get(k, 0.0) for w in mine) for k in CPU_COLUMNS},
    }
