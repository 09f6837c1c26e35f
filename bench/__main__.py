"""``python -m bench`` (``make bench``): full-pipeline images/s against a plain pyvips loop.

One run measures both on the same cores with the same inputs: the baseline (a pool of
plain pyvips processes over local files) and the pipeline (upload → S3 event → Redis →
Dramatiq worker → S3 → manifest, on the local stack). Every stack is started and warmed up
first; then each round runs the baseline and every pipeline variant back to back, so a
burst of load from elsewhere hits all of them. The best round of each is compared, and the
median of the per-round ratios is shown next to it.

Then the ingest table (``bench/ingest.py``): ``POST /v1/jobs`` requests/s of the API against
a bare Starlette endpoint under the same uvicorn argv, and their ratio (target ≥ 0.5).
``--ingest-only`` runs just that, ``--skip-ingest`` skips it.

Then the memory table (``bench/memory.py``): the worker's peak RSS, measured from outside,
while it processes a 20 MiB and a 2 GiB video and a 100 MP JPEG, one job at a time.
``--memory-only`` runs just that, ``--skip-memory`` skips it. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import ingest as ingest_bench
from bench import memreport, report
from bench.baseline import Baseline, BaselineResult
from bench.inputs import make_inputs
from bench.memory import MemoryOptions, run_memory
from bench.pipeline import PipelineBench, PipelineResult
from bench.summary import Variant, summarize

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_THREADS = (2,)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, help="input images per round (default 32; quick 8)")
    parser.add_argument(
        "--size", default=None, help="input size WxH (default 4000x3000; quick 1600x1200)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of baseline + pipeline (default 3; quick 1)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few small images, one round, a 200 MiB big video: a smoke test",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes = baseline processes"
    )
    parser.add_argument(
        "--threads",
        default=",".join(map(str, DEFAULT_THREADS)),
        help="worker threads per process; a list such as 1,2 runs one stack each "
        "(the first is the headline)",
    )
    parser.add_argument(
        "--vips-concurrency",
        type=int,
        default=None,
        help="VIPS_CONCURRENCY for workers and baseline alike (default: libvips' own)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for every stack's services (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:NAME=VALUE[,…]",
        help="also run a stack with this extra environment, for each thread count "
        "(repeatable), e.g. 'fastpoll:dramatiq_worker_timeout=100'",
    )
    parser.add_argument("--target", type=float, default=0.8, help="pipeline/baseline ratio to pass")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the ratio is below target or a memory target is missed",
    )
    parser.add_argument(
        "--keep-state", action="store_true", help="keep inputs, outputs and service logs"
    )
    parser.add_argument(
        "--no-save", action="store_true", help=f"do not write JSON to {RESULTS_DIR}"
    )
    ingest = parser.add_argument_group("ingest benchmark")
    ingest.add_argument("--ingest-only", action="store_true", help="run only the ingest benchmark")
    ingest.add_argument("--skip-ingest", action="store_true", help="skip the ingest benchmark")
    ingest.add_argument(
        "--ingest-seconds", type=float, help="timed window per side and round (default 5; quick 2)"
    )
    ingest.add_argument(
        "--ingest-rounds", type=int, help="rounds of bare + real (default 3; quick 1)"
    )
    ingest.add_argument(
        "--ingest-connections",
        type=int,
        default=16,
        help="keep-alive connections of the load generator (default 16)",
    )
    ingest.add_argument(
        "--ingest-target", type=float, default=0.5, help="real/bare ratio to pass (default 0.5)"
    )
    ingest.add_argument(
        "--ingest-profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also profile the real API (cProfile) under load this long and show where the "
        "time goes (default: off)",
    )
    memory = parser.add_argument_group("memory benchmark")
    memory.add_argument("--memory-only", action="store_true", help="run only the memory benchmark")
    memory.add_argument("--skip-memory", action="store_true", help="skip the memory benchmark")
    memory.add_argument(
        "--memory-big-mib",
        type=float,
        help="size of the big video in MiB (default 2048; quick 200)",
    )
    memory.add_argument(
        "--memory-video-mbps",
        type=float,
        default=100.0,
        help="bitrate of both videos (1920x1080, 30 fps); default 100",
    )
    memory.add_argument(
        "--memory-jpeg", default="10000x10000", help="size of the JPEG (default 10000x10000)"
    )
    memory.add_argument(
        "--memory-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the memory stack only (repeatable), e.g. "
        "MALLOC_ARENA_MAX=2 or HEAVYLIFT_SPOOL_MEMORY_BYTES=1048576",
    )
    args = parser.parse_args(argv)
    if args.memory_only and args.skip_memory:
        parser.error("--memory-only and --skip-memory exclude each other")
    if args.ingest_only and (args.skip_ingest or args.memory_only):
        parser.error("--ingest-only excludes --skip-ingest and --memory-only")
    args.ingest_seconds = args.ingest_seconds or (2.0 if args.quick else 5.0)
    args.ingest_rounds = args.ingest_rounds or (1 if args.quick else 3)
    args.memory_big_mib = args.memory_big_mib or (200 if args.quick else 2048)
    args.images = args.images or (8 if args.quick else 32)
    args.rounds = args.rounds or (1 if args.quick else 3)
    width, height = (args.size or ("1600x1200" if args.quick else "4000x3000")).lower().split("x")
    args.width, args.height = int(width), int(height)
    args.thread_counts = [int(t) for t in str(args.threads).split(",") if t.strip()]
    return args


def variants(args: argparse.Namespace) -> list[Variant]:
    common = _env_pairs(args.env)
    if args.vips_concurrency:
        common["VIPS_CONCURRENCY"] = str(args.vips_concurrency)
    extra: list[tuple[str, dict[str, str]]] = [("", {})]
    for spec in args.variant:
        label, _, pairs = spec.partition(":")
        extra.append((label, _env_pairs(pairs.split(","))))
    return [
        Variant(threads=t, label=label, env={**common, **env})
        for label, env in extra
        for t in args.thread_counts
    ]


def _env_pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        if item.strip():
            name, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"expected NAME=VALUE, got {item!r}")
            pairs[name.strip()] = value.strip()
    return pairs


def machine() -> dict[str, Any]:
    import pyvips  # only for its version; the benchmark process itself does no image work

    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "",
            )
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ingest_only:
        return ingest(args)
    status = 0 if args.memory_only else throughput(args)
    if not (args.memory_only or args.skip_ingest):
        status = max(status, ingest(args))
    if not args.skip_memory:
        status = max(status, memory(args))
    return status


def ingest(args: argparse.Namespace) -> int:
    """The ingest table; exit status 2 on any non-202, 1 under the target with --strict."""
    console = report.console
    opts = ingest_bench.IngestOptions(
        seconds=args.ingest_seconds,
        warmup_s=1.0 if args.quick else 2.0,
        rounds=args.ingest_rounds,
        connections=args.ingest_connections,
        target=args.ingest_target,
        env=tuple(_env_pairs(args.env).items()),
        profile_s=args.ingest_profile,
    )
    console.print(
        f"[bold]Heavylift ingest[/]: POST /v1/jobs, real API vs bare Starlette, "
        f"{opts.rounds} round(s) × {opts.seconds:g} s each, {opts.connections} connections"
    )
    work = Path(tempfile.mkdtemp(prefix="heavylift-ingestbench-"))
    try:
        result = ingest_bench.run_ingest(work, opts, say=console.print)
    except BaseException:
        args.keep_state = True
        raise
    finally:
        if args.keep_state:
            console.print(f"ingest logs (and any profile) kept in {work}")
        elif args.ingest_profile:  # keep the profile, not the stack's Redis data and logs
            shutil.rmtree(work / "stack", ignore_errors=True)
            console.print(f"ingest profile kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"] = machine()
    ingest_bench.print_ingest(result)
    if not args.no_save:
        path = ingest_bench.save(result, RESULTS_DIR)
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        console.print(f"saved {shown}")
    if result["problems"]:
        return 2
    return 1 if args.strict and result["ratio"] < opts.target else 0


def memory(args: argparse.Namespace) -> int:
    console = report.console
    width, height = (int(v) for v in args.memory_jpeg.lower().split("x"))
    opts = MemoryOptions(
        big_mib=args.memory_big_mib,
        jpeg_size=(width, height),
        video_mbps=args.memory_video_mbps,
        env=tuple(_env_pairs([*args.env, *args.memory_env]).items()),
    )
    work = Path(tempfile.mkdtemp(prefix="heavylift-membench-"))
    try:
        result = run_memory(work, opts, say=console.print)
    except BaseException:
        args.keep_state = True
        raise
    finally:
        if args.keep_state:
            console.print(f"memory inputs, outputs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"] = machine()
    memreport.print_memory(result)
    if not args.no_save:
        path = memreport.save(result, RESULTS_DIR)
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        console.print(f"saved {shown}")
    return 1 if args.strict and not result["pass"] else 0


def throughput(args: argparse.Namespace) -> int:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info = machine()
    cores = info["cores"] or 1
    runs = variants(args)
    console = report.console
    console.print(
        f"[bold]Heavylift throughput[/]: {args.images} × {args.width}×{args.height} JPEG, "
        f"{args.rounds} round(s), {args.processes} worker processes; pipeline "
        f"{', '.join(v.name for v in runs)}; {cores} cores ({info['cpu']}), "
        f"libvips {info['libvips']}"
        + (f"; baseline VIPS_CONCURRENCY={args.vips_concurrency}" if args.vips_concurrency else "")
    )

    work = Path(tempfile.mkdtemp(prefix="heavylift-bench-"))
    baselines: list[BaselineResult] = []
    results: dict[str, list[PipelineResult]] = {v.name: [] for v in runs}
    stacks: dict[str, PipelineBench] = {}
    baseline: Baseline | None = None
    try:
        console.print("generating inputs …")
        inputs = make_inputs(work / "inputs", args.images, args.width, args.height)
        warm = make_inputs(
            work / "warm",
            args.processes * max(args.thread_counts),
            args.width,
            args.height,
            prefix="warm",
            first_seed=500,
        )
        baseline = Baseline(work / "baseline-out", args.processes, args.vips_concurrency)
        baseline.warm_up(warm)
        for i, variant in enumerate(runs):
            console.print(f"starting a local stack for {variant.name} and warming up …")
            stacks[variant.name] = PipelineBench(
                work / f"stack-{i}",
                processes=args.processes,
                threads=variant.threads,
                extra_env=variant.env,
            ).start()
            stacks[variant.name].warm_up(warm)
        for round_no in range(1, args.rounds + 1):
            b = baseline.run(inputs)
            baselines.append(b)
            line = [f"round {round_no}: baseline {b.images_per_s:.2f}"]
            shift = (round_no - 1) % len(runs)  # rotate, so no variant always runs first
            for variant in runs[shift:] + runs[:shift]:
                p = stacks[variant.name].run(inputs, label=f"r{round_no}")
                results[variant.name].append(p)
                line.append(
                    f"{variant.name} {p.images_per_s:.2f}"
                    + (f" [red]({len(p.failed)} failed)[/]" if p.failed else "")
                )
            console.print("  " + ", ".join(line) + " images/s")
    except BaseException:
        console.print(
            "[red]benchmark failed[/]; service logs are kept: "
            + ", ".join(str(s.logs()) for s in stacks.values())
        )
        args.keep_state = True
        raise
    finally:
        for stack in stacks.values():
            stack.stop()
        if baseline is not None:
            baseline.close()
        if args.keep_state:
            console.print(f"inputs, outputs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    settings = {
        "images": args.images,
        "size": [args.width, args.height],
        "rounds": args.rounds,
        "processes": args.processes,
        "threads": args.thread_counts,
        "vips_concurrency": args.vips_concurrency,
        "env": args.env,
        "variants": args.variant,
        "quick": args.quick,
        "target": args.target,
    }
    result = summarize(settings, info, started, baselines, runs, results)
    report.print_result(result, cores, args.target)
    if not args.no_save:
        path = report.save(result, RESULTS_DIR)
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        console.print(f"saved {shown}")
    if result["problems"]:
        return 2
    return 1 if args.strict and not result["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
