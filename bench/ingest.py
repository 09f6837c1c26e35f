"""Ingest: ``POST /v1/jobs`` requests/s of the real API against a bare Starlette endpoint.

Issue: the API should accept jobs at ≥ 0.5× the rate of a Starlette endpoint that does
nothing but answer, on the same server settings. One run measures both:

* **real**: the API of a :class:`~infra.devstack.LocalStack` (redis-server + moto, no
  workers, no event bridge, so nothing drains the queue and nothing else competes for the
  cores), with ``HEAVYLIFT_MAX_QUEUE_DEPTH`` raised so that backpressure never answers 429.
  Each request carries the bearer key and a new S3 key and no Idempotency-Key, so each
  creates a job: auth, validation, backlog check, record, Dramatiq enqueue, enqueued stamp.
* **bare**: ``bench/bare_app.py`` under *the API's own uvicorn argv* (copied from the
  stack's ``api`` service, only the app and port swapped), with the same environment and
  working directory, as its own process.

Both get the same request bytes from :mod:`bench.ingest_client`. After a warm-up of each,
every round measures both for a fixed time (the order alternates between rounds, so a burst
of load from elsewhere does not always hit the same side). The headline is the ratio of the
medians; every response must be a 202, any other status fails the benchmark. CPU is read
from ``/proc`` for the server, redis-server, moto, the client and everyone else, so the
report can say whether the server (one core, one event loop) was the bottleneck.

``profile_real`` (``python -m bench --ingest-profile SECONDS``) runs a second API process
under cProfile against the same Redis and splits ``create_job``'s time into its parts and
counts the Redis round trips, to show where the time goes.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import signal
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from rich.table import Table

from bench import cpu
from bench.ingest_client import LoadResult, request_factory, run_load
from bench.report import console
from infra.devstack import REPO_DIR, LocalStack
from infra.processes import Service, free_port

HOST = "127.0.0.1"
REAL_APP = "functions.http:app"
BARE_APP = "bench.bare_app:app"
QUEUE_DEPTH = "10000000"  # far above what a run enqueues: the bench must not measure 429s
BUSY = 0.9  # a process using this much of a core is saturated
NOISY = 0.10  # others' CPU above this share of the machine makes a window suspect


@dataclass(frozen=True)
class IngestOptions:
    seconds: float = 5.0
    warmup_s: float = 2.0
    rounds: int = 3
    connections: int = 16
    target: float = 0.5
    env: tuple[tuple[str, str], ...] = ()  # extra environment for both servers
    profile_s: float = 0.0  # > 0: also profile the real API under load this long


@dataclass
class Side:
    """One server under test and the request bytes it gets."""

    name: str
    port: int
    pid: int
    make: Callable[[], bytes]


# --- servers ---------------------------------------------------------------------------------


def start_stack(state_dir: Path, env: dict[str, str]) -> LocalStack:
    """redis-server + moto + the API; no workers or bridge, so the API has the cores."""
    return LocalStack(
        state_dir,
        workers=False,
        bridge=False,
        log_format="json",
        extra_env={"HEAVYLIFT_MAX_QUEUE_DEPTH": QUEUE_DEPTH, **env},
    ).start()


def server_argv(stack: LocalStack, app: str, port: int | str) -> list[str]:
    """The API's uvicorn argv with only the app and the port swapped: same host, access
    log, workers, loop and HTTP implementation, whatever ``_start_api`` says today."""
    argv = list(stack.services["api"].argv)
    if argv.count(REAL_APP) != 1 or argv.count(str(stack.api_port)) != 1:
        raise RuntimeError(f"cannot find the app and the port in the API's argv: {argv}")
    argv[argv.index(REAL_APP)] = app
    argv[argv.index(str(stack.api_port))] = str(port)
    return argv


def start_server(stack: LocalStack, name: str, argv: list[str], port: int) -> Service:
    """A server beside the stack's API: same environment and directory, logs in its log dir."""
    service = Service(name, argv, stack.child_env(), stack.log_dir, restart=False, cwd=REPO_DIR)
    service.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{name} exited during start-up:\n{service.tail()}")
        if _accepts(port, stack.auth_headers):
            return service
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"{name} not answering after 30 s:\n{service.tail()}")


def _accepts(port: int, headers: dict[str, str]) -> bool:
    request = urllib.request.Request(
        f"http://{HOST}:{port}/v1/jobs",
        data=b'{"source": {"bucket": "heavylift-uploads", "key": "bench/ready.jpg"}}',
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 202)
    except OSError:
        return False


def uvicorn_settings(argv: list[str]) -> dict[str, Any]:
    """What ``--loop auto`` / ``--http auto`` resolve to in this venv (the argv sets neither
    unless it says so), for the record."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {
        "argv": argv[argv.index("uvicorn") :],  # the app and the port are placeholders
        "loop": _flag(argv, "--loop") or f"auto → {loop}",
        "http": _flag(argv, "--http") or f"auto → {AutoHTTPProtocol.__name__}",
        "workers": _flag(argv, "--workers") or "1 (default)",
    }


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


# --- measuring -------------------------------------------------------------------------------


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per Redis command so far (``INFO commandstats``; commands run inside Lua
    scripts count too)."""
    stats: dict[str, dict[str, int]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def measure(
    side: Side, others: dict[str, int], opts: IngestOptions, client: redis.Redis
) -> dict[str, Any]:
    """One timed window against ``side``: rate, latency, statuses, CPU, Redis commands."""
    pids = {"server": side.pid, **others, "client": os.getpid()}
    calls = command_calls(client)
    before = cpu.snapshot({}, pids)
    load = run_load(HOST, side.port, side.make, connections=opts.connections, seconds=opts.seconds)
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
        "p50_ms": round(_quantile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "samples": load.samples,
        "errors": load.errors[:5],
        "cpu_s": used,
        "cores": {k: round(v / load.seconds, 2) for k, v in used.items()} if load.seconds else {},
        "redis_calls_per_request": redis_calls,
    }


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_ingest(work: Path, opts: IngestOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """Start both servers, warm both up, then ``opts.rounds`` alternating timed windows."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stack = start_stack(work / "stack", dict(opts.env))
    bare: Service | None = None
    try:
        port = free_port()
        server = uvicorn_settings(server_argv(stack, "<app>", "<port>"))
        bare = start_server(stack, "bare", server_argv(stack, BARE_APP, port), port)
        token = stack.api_key
        real_port = int(stack.api_url.rsplit(":", 1)[1])
        assert stack.services["api"].pid is not None and bare.pid is not None
        sides = [
            Side("bare", port, bare.pid, request_factory(HOST, port, token, "bench")),
            Side(
                "real",
                real_port,
                stack.services["api"].pid,
                request_factory(HOST, real_port, token, "bench"),
            ),
        ]
        others = {n: s.pid for n in ("redis", "moto") if (s := stack.services[n]).pid}
        client = redis.Redis.from_url(stack.redis_url)
        say(f"warming up both servers ({opts.warmup_s:g} s each, {opts.connections} connections)")
        for side in sides:
            run_load(
                HOST, side.port, side.make, connections=opts.connections, seconds=opts.warmup_s
            )
        windows: list[dict[str, Any]] = []
        for round_no in range(1, opts.rounds + 1):
            order = sides if round_no % 2 else sides[::-1]
            got = {side.name: measure(side, others, opts, client) for side in order}
            windows += [dict(got[s.name], round=round_no) for s in sides]
            say(
                f"  round {round_no}: "
                + ", ".join(f"{n} {w['per_s']:.0f}" for n, w in got.items())
                + f" req/s; real/bare {got['real']['per_s'] / max(got['bare']['per_s'], 1):.2f}"
            )
        profile = profile_real(stack, opts, work, say) if opts.profile_s > 0 else None
    finally:
        if bare is not None:
            bare.stop()
        stack.stop()
    result = summarize(windows, opts, started)
    result["uvicorn"] = server
    result["profile"] = profile
    return result


def summarize(windows: list[dict[str, Any]], opts: IngestOptions, started: str) -> dict[str, Any]:
    sides = {}
    for name in ("bare", "real"):
        mine = [w for w in windows if w["side"] == name]
        statuses: dict[str, int] = {}
        for w in mine:
            for status, n in w["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        sides[name] = {
            "per_s": statistics.median(w["per_s"] for w in mine),
            "rounds": [w["per_s"] for w in mine],
            "p50_ms": statistics.median(w["p50_ms"] for w in mine),
            "p99_ms": statistics.median(w["p99_ms"] for w in mine),
            "statuses": statuses,
            "cores": {
                k: statistics.median(w["cores"].get(k, 0.0) for w in mine)
                for k in ("server", "client", "redis", "moto", "other")
            },
        }
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
        "options": asdict(opts),
        "sides": sides,
        "windows": windows,
        "ratio": round(ratio, 3),
        "median_round_ratio": round(statistics.median(per_round), 3),
        "target": opts.target,
        "problems": problems,
        "pass": ratio >= opts.target and not problems,
    }


# --- profiling -------------------------------------------------------------------------------

# Parts of create_job, by (file, function) of its direct callees and of submit's.
PARTS = {
    "read body": [("functions/http.py", "read_body")],
    "auth (bearer key)": [("functions/http.py", "authenticate")],
    "JSON parse": [("functions/http.py", "parse_json")],
    "pydantic validation": [("functions/http.py", "validate")],
    "job message (policy, spec, id)": [("functions/http.py", "job_message")],
    "queue_for": [("heavylift/jobs.py", "queue_for")],
    "backlog (LLEN)": [("functions/producer.py", "backlog")],
    "submit → record create (SET NX)": [("heavylift/jobstore.py", "create")],
    "submit → Dramatiq enqueue (EVALSHA)": [("actors/dispatch.py", "dispatch")],
    "submit → stamp enqueued_at (WATCH/GET/MULTI/SET/EXEC)": [("heavylift/jobstore.py", "update")],
    "submit → log 'job submitted'": [("logging/__init__.py", "info")],
    "submit → JobRecord draft + message()": [
        ("heavylift/models.py", "message"),
        ("pydantic/main.py", "__init__"),
    ],
    "response (JobAccepted + JSONResponse)": [
        ("pydantic/main.py", "model_dump"),
        ("starlette/responses.py", "__init__"),
        ("pydantic/main.py", "__init__"),
    ],
}
# Where redis-py blocks: the send (which wakes redis-server) and the wait for its answer.
SOCKET_CALLS = {
    f"<method '{name}' of '_socket.socket' objects>" for name in ("recv", "recv_into", "sendall")
}
IDLE = "<method 'poll' of 'select.epoll' objects>"  # the event loop waiting for sockets
PARENTS = {
    "create_job": ("functions/http.py", "create_job"),
    "submit": ("heavylift/jobs.py", "submit"),
}


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


def profile_real(
    stack: LocalStack, opts: IngestOptions, work: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """A second API process with the API's argv, its uvicorn run under cProfile, against
    the same Redis: warmed up, then profiled under the same load for ``opts.profile_s``.
    cProfile slows Python code several-fold, so read shares, not absolute rates."""
    import pstats

    port = free_port()
    out = work / "real-api.prof"
    argv = server_argv(stack, REAL_APP, port)
    at = argv.index("-m")
    argv[at : at + 2] = ["-c", PROFILER, str(out)]
    say(f"profiling the real API under load for {opts.profile_s:g} s …")
    service = start_server(stack, "api-profiled", argv, port)
    try:
        assert service.pid is not None
        make = request_factory(HOST, port, stack.api_key, "bench/profile")
        run_load(HOST, port, make, connections=opts.connections, seconds=opts.warmup_s)
        os.kill(service.pid, signal.SIGUSR1)
        load = run_load(HOST, port, make, connections=opts.connections, seconds=opts.profile_s)
        os.kill(service.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline and service.alive():
            time.sleep(0.1)
    finally:
        service.stop()
    if not out.exists():
        raise RuntimeError(f"the profiled API wrote no profile:\n{service.tail()}")
    return breakdown(pstats.Stats(str(out)), load.requests, load.per_s) | {"file": str(out)}


def _find(stats: Any, file: str, function: str) -> list[tuple[str, int, str]]:
    return [k for k in stats.stats if k[0].endswith(file) and k[2] == function]


def _from_parent(stats: Any, parent: tuple[str, str], part: list[tuple[str, str]]) -> float:
    """Cumulative seconds spent in ``part``'s functions when called directly by ``parent``."""
    parents = set(_find(stats, *parent))
    total = 0.0
    for file, function in part:
        for key in _find(stats, file, function):
            callers = stats.stats[key][4]
            total += sum(v[3] for caller, v in callers.items() if caller in parents)
    return total


def _calls(stats: Any, file: str, function: str) -> int:
    return sum(stats.stats[k][1] for k in _find(stats, file, function))


def _cumulative(stats: Any, file: str, function: str) -> float:
    return sum(stats.stats[k][3] for k in _find(stats, file, function))


def breakdown(stats: Any, requests: int, per_s: float) -> dict[str, Any]:
    """µs per request in each part of create_job (cProfile's inflated clock), the Redis round
    trips per request and the time blocked waiting for their answers."""
    total = _cumulative(stats, *PARENTS["create_job"])
    submit = _cumulative(stats, *PARENTS["submit"])
    parts: dict[str, float] = {}
    for name, functions in PARTS.items():
        parent = PARENTS["submit"] if name.startswith("submit") else PARENTS["create_job"]
        parts[name] = _from_parent(stats, parent, functions)
    parts["submit → rest"] = submit - sum(v for k, v in parts.items() if k.startswith("submit"))
    parts["create_job → rest"] = (
        total - submit - sum(v for k, v in parts.items() if not k.startswith("submit"))
    )
    everything = sum(v[2] for k, v in stats.stats.items() if k[2] != IDLE)  # all busy time
    idle = sum(v[2] for k, v in stats.stats.items() if k[2] == IDLE)
    round_trips = _calls(stats, "redis/connection.py", "send_packed_command")
    socket_s = sum(
        v[2]
        for key, (_, _, _, _, callers) in stats.stats.items()
        if key[2] in SOCKET_CALLS
        for caller, v in callers.items()
        if "/redis/" in caller[0]
    )
    return {
        "requests": requests,
        "per_s_profiled": round(per_s, 1),
        "us_per_request": {k: round(v / requests * 1e6, 1) for k, v in parts.items()},
        "create_job_us": round(total / requests * 1e6, 1),
        "outside_create_job_us": round((everything - total) / requests * 1e6, 1),
        "idle_us": round(idle / requests * 1e6, 1),
        "redis_round_trips_per_request": round(round_trips / requests, 2),
        "redis_socket_us_per_request": round(socket_s / requests * 1e6, 1),
        "top": top_functions(stats, 15),
    }


def top_functions(stats: Any, n: int) -> list[dict[str, Any]]:
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:n]
    return [
        {
            "function": f"{Path(k[0]).name}:{k[1]}({k[2]})",
            "calls": v[1],
            "own_s": round(v[2], 3),
            "cumulative_s": round(v[3], 3),
        }
        for k, v in rows
    ]


# --- reporting -------------------------------------------------------------------------------


def ingest_table(result: dict[str, Any]) -> Table:
    opts = result["options"]
    table = Table(
        title=f"Ingest: POST /v1/jobs, {opts['connections']} keep-alive connections, "
        f"median of {opts['rounds']} × {opts['seconds']:g} s",
        caption="cores: CPU-seconds per second of the window; server is one uvicorn process "
        "(one core at most); other: processes that are not ours",
    )
    for name, justify in (
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
    ):
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
    lines = [
        f"profile (cProfile, {profile['requests']} requests at {profile['per_s_profiled']:.0f} "
        f"req/s under the profiler; µs per request, inflated by cProfile): create_job "
        f"{profile['create_job_us']:.0f}, outside it (uvicorn, Starlette, asyncio) "
        f"{profile['outside_create_job_us']:.0f}, idle in epoll {profile['idle_us']:.0f}; "
        f"Redis round trips per request "
        f"{profile['redis_round_trips_per_request']:.2f}, in their socket calls (send, "
        f"wait for the answer) {profile['redis_socket_us_per_request']:.0f}"
    ]
    lines += [f"  {name}: {us:.0f}" for name, us in profile["us_per_request"].items()]
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
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ingest-{result['started'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    (directory / "ingest-latest.json").write_text(path.read_text())
    return path
