"""``python -m bench --ingest-profile SECONDS``: the real API under cProfile, under load.

A second API process, with the API's own uvicorn argv, runs against the stack's Redis with
cProfile switched on for the timed window only; :mod:`bench.ingest_breakdown` then splits
``create_job``'s time into its pieces. cProfile slows Python code several-fold, so read the
shares, not the absolute rates.
"""

from __future__ import annotations

import os
import pstats
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ingest_breakdown import breakdown
from bench.ingest_client import request_factory, run_load
from bench.ingest_servers import HOST, REAL_APP, pid_of, server_argv, start_server
from infra.devstack import LocalStack
from infra.processes import free_port

# Runs uvicorn as ``python -m uvicorn`` would, with cProfile switched on and off by SIGUSR1,
# so the profile holds the timed window only (no imports, no warm-up, no shutdown).
PROFILER = """
import cProfile, os, runpy, signal, sys
out, profiler, on = sys.argv[1], cProfile.Profile(), []
def toggle(signum, frame):
    if on:
        profiler.disable()
        profiler.dump_stats(out + ".part")
        os.replace(out + ".part", out)
        on.clear()
    else:
        profiler.enable()
        on.append(True)
signal.signal(signal.SIGUSR1, toggle)
sys.argv = ["uvicorn", *sys.argv[2:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""
DUMP_TIMEOUT_S = 30.0


def profiled_argv(stack: LocalStack, port: int, out: Path) -> list[str]:
    """The API's argv with ``-m uvicorn`` replaced by the profiler above."""
    argv = server_argv(stack, REAL_APP, port)
    at = argv.index("-m")
    argv[at : at + 2] = ["-c", PROFILER, str(out)]
    return argv


def profile_real(
    stack: LocalStack,
    work: Path,
    *,
    seconds: float,
    warmup_s: float,
    connections: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Warm a profiled API up, profile it under ``connections`` connections for ``seconds``,
    and break its time down (see :func:`bench.ingest_breakdown.breakdown`)."""
    port = free_port()
    out = work / "real-api.prof"
    say(f"profiling the real API under load for {seconds:g} s …")
    service = start_server(stack, "api-profiled", profiled_argv(stack, port, out), port)
    try:
        pid = pid_of(service)
        make = request_factory(HOST, port, stack.api_key, "bench/profile")
        run_load(HOST, port, make, connections=connections, seconds=warmup_s)
        os.kill(pid, signal.SIGUSR1)
        load = run_load(HOST, port, make, connections=connections, seconds=seconds)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + DUMP_TIMEOUT_S
        while not out.exists() and time.monotonic() < deadline and service.alive():
            time.sleep(0.1)
    finally:
        service.stop()
    if not out.exists():
        raise RuntimeError(f"the profiled API wrote no profile:\n{service.tail()}")
    return breakdown(pstats.Stats(str(out)), load.requests, load.per_s) | {"file": str(out)}
