"""Ingest: ``POST /v1/jobs`` requests/s of the real API against a bare Starlette endpoint.

Issue: the API should accept jobs at ≥ 0.5× the rate of a Starlette endpoint that does
nothing but answer, on the same server settings. One run measures both:

* **real**: the API of a :class:`~infra.devstack.LocalStack` (redis-server + moto, no
  workers, no SQS poller, so nothing drains the queue and nothing else competes for the
  cores), with ``HEAVYLIFT_MAX_QUEUE_DEPTH`` raised so that backpressure never answers 429.
  Each request carries the bearer key and a new S3 key and no Idempotency-Key, so each
  creates a job: auth, validation, the job message, the Dramatiq envelope, and one Redis
  round trip that checks the backlog, stores the record and enqueues the message.
* **bare**: ``bench/bare_app.py`` under *the API's own uvicorn argv* (copied from the
  stack's ``api`` service, only the app and port swapped), with the same environment and
  working directory, as its own process.

Both get the same request bytes from :mod:`bench.ingest_client`. After a warm-up of each,
every round measures both for a fixed time (the order alternates between rounds, so a burst
of load from elsewhere does not always hit the same side). The headline is the ratio of the
medians; every response must be a 202, any other status fails the benchmark. CPU is read
from ``/proc`` for the server, redis-server, moto, the client and everyone else, so the
report can say whether the server (one core, one event loop) was the bottleneck.

This module runs the benchmark; the parts live beside it: the servers
(:mod:`bench.ingest_servers`), the load (:mod:`bench.ingest_client`), the timed windows
(:mod:`bench.ingest_measure`), the optional cProfile run (``--ingest-profile SECONDS``,
:mod:`bench.ingest_profile` and :mod:`bench.ingest_breakdown`) and the report
(:mod:`bench.ingest_report`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from bench.ingest_client import request_factory, run_load
from bench.ingest_measure import Side, measure, summarize
from bench.ingest_profile import profile_real
from bench.ingest_report import print_ingest, save
from bench.ingest_servers import (
    HOST,
    pid_of,
    real_port,
    start_bare,
    start_stack,
    uvicorn_settings,
)
from infra.devstack import LocalStack
from infra.processes import Service, free_port

__all__ = ["IngestOptions", "print_ingest", "run_ingest", "save"]


@dataclass(frozen=True)
class IngestOptions:
    seconds: float = 5.0
    warmup_s: float = 2.0
    rounds: int = 3
    connections: int = 16
    target: float = 0.5
    env: tuple[tuple[str, str], ...] = ()  # extra environment for both servers
    profile_s: float = 0.0  # > 0: also profile the real API under load this long


def run_ingest(work: Path, opts: IngestOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """Start both servers, warm both up, then ``opts.rounds`` alternating timed windows (and
    the profile, if asked for)."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stack = start_stack(work / "stack", dict(opts.env))
    bare: Service | None = None
    try:
        server = uvicorn_settings(stack)
        port = free_port()
        bare = start_bare(stack, port)
        sides = _sides(stack, bare, port)
        windows = _rounds(stack, sides, opts, say)
        profile = (
            profile_real(
                stack,
                work,
                seconds=opts.profile_s,
                warmup_s=opts.warmup_s,
                connections=opts.connections,
                say=say,
            )
            if opts.profile_s > 0
            else None
        )
    finally:
        if bare is not None:
            bare.stop()
        stack.stop()
    result = summarize(windows, asdict(opts), opts.target, started)
    result["uvicorn"] = server
    result["profile"] = profile
    return result


def _sides(stack: LocalStack, bare: Service, port: int) -> list[Side]:
    token = stack.api_key
    real = real_port(stack)
    return [
        Side("bare", port, pid_of(bare), request_factory(HOST, port, token, "bench")),
        Side(
            "real",
            real,
            pid_of(stack.services["api"]),
            request_factory(HOST, real, token, "bench"),
        ),
    ]


def _rounds(
    stack: LocalStack, sides: list[Side], opts: IngestOptions, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Warm both sides up, then measure both in every round, alternating which goes first."""
    others = {n: s.pid for n in ("redis", "moto") if (s := stack.services[n]).pid}
    client = redis.Redis.from_url(stack.redis_url)
    say(f"warming up both servers ({opts.warmup_s:g} s each, {opts.connections} connections)")
    for side in sides:
        run_load(HOST, side.port, side.make, connections=opts.connections, seconds=opts.warmup_s)
    windows: list[dict[str, Any]] = []
    try:
        for round_no in range(1, opts.rounds + 1):
            order = sides if round_no % 2 else sides[::-1]
            got = {
                side.name: measure(
                    side, others, client, connections=opts.connections, seconds=opts.seconds
                )
                for side in order
            }
            windows += [dict(got[s.name], round=round_no) for s in sides]
            ratio = got["real"]["per_s"] / max(got["bare"]["per_s"], 1)
            say(
                f"  round {round_no}: "
                + ", ".join(f"{n} {w['per_s']:.0f}" for n, w in got.items())
                + f" req/s; real/bare {ratio:.2f}"
            )
    finally:
        client.close()
    return windows
