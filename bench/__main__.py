"""``python -m bench`` (``make bench``): full-pipeline images/s against a plain pyvips loop.

One run measures both on the same cores with the same inputs: the baseline (a pool of
plain pyvips processes over local files) and the pipeline (upload → S3 event → Redis →
Dramatiq worker → S3 → manifest, on the local stack). Rounds alternate baseline and
pipeline so that a burst of load from elsewhere hits both; the best round of each is
compared. See docs/benchmarks.md for what is measured and why.
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

from bench import report
from bench.baseline import Baseline, BaselineResult
from bench.inputs import make_inputs
from bench.pipeline import PipelineBench, PipelineResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_THREADS = (1,)
NOISY = 0.10  # others' CPU above this share of the machine makes a window suspect


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, help="input images per round (default 32; quick 8)")
    parser.add_argument("--size", default=None, help="input size WxH (default 4000x3000; quick 1600x1200)")
    parser.add_argument("--rounds", type=int, help="baseline+pipeline rounds (default 3; quick 1)")
    parser.add_argument("--quick", action="store_true", help="few small images, one round: a smoke test")
    parser.add_argument("--processes", type=int, default=2, help="worker processes = baseline processes")
    parser.add_argument("--threads", default=",".join(map(str, DEFAULT_THREADS)),
                        help="worker threads per process; a list such as 1,2 runs one stack each")
    parser.add_argument("--vips-concurrency", type=int, default=None,
                        help="VIPS_CONCURRENCY for workers and baseline (default: libvips' own)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the stack's services (repeatable)")
    parser.add_argument("--target", type=float, default=0.8, help="pipeline/baseline ratio to pass")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the ratio is below target")
    parser.add_argument("--keep-state", action="store_true", help="keep inputs, outputs and service logs")
    parser.add_argument("--no-save", action="store_true", help=f"do not write JSON to {RESULTS_DIR}")
    args = parser.parse_args(argv)
    args.images = args.images or (8 if args.quick else 32)
    args.rounds = args.rounds or (1 if args.quick else 3)
    width, height = (args.size or ("1600x1200" if args.quick else "4000x3000")).lower().split("x")
    args.width, args.height = int(width), int(height)
    args.thread_counts = [int(t) for t in str(args.threads).split(",") if t.strip()]
    return args


def machine() -> dict[str, Any]:
    import pyvips  # only for its version; the benchmark process itself does no image work

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info = machine()
    cores = info["cores"] or 1
    extra_env = dict(item.split("=", 1) for item in args.env)
    if args.vips_concurrency:
        extra_env["VIPS_CONCURRENCY"] = str(args.vips_concurrency)
    report.console.print(
        f"[bold]Heavylift throughput[/]: {args.images} × {args.width}×{args.height} JPEG, "
        f"{args.rounds} round(s), {args.processes} processes, threads {args.thread_counts}, "
        f"{cores} cores ({info['cpu']}), libvips {info['libvips']}"
        + (f", env {extra_env}" if extra_env else ""))

    work = Path(tempfile.mkdtemp(prefix="heavylift-bench-"))
    pairs: dict[int, list[tuple[BaselineResult, PipelineResult]]] = {t: [] for t in args.thread_counts}
    baseline: Baseline | None = None
    try:
        report.console.print("generating inputs …")
        inputs = make_inputs(work / "inputs", args.images, args.width, args.height)
        warm = make_inputs(work / "warm", args.processes * max(args.thread_counts), args.width,
                           args.height, prefix="warm", first_seed=500)
        baseline = Baseline(work / "baseline-out", args.processes, args.vips_concurrency)
        baseline.warm_up(warm)
        for threads in args.thread_counts:
            bench = PipelineBench(work / f"stack-t{threads}", processes=args.processes,
                                  threads=threads, extra_env=extra_env)
            try:
                report.console.print(f"starting the local stack ({args.processes} worker processes "
                                     f"× {threads} thread(s)) and warming up …")
                bench.start().warm_up(warm)
                for round_no in range(1, args.rounds + 1):
                    b = baseline.run(inputs)
                    p = bench.run(inputs, label=f"t{threads}r{round_no}")
                    pairs[threads].append((b, p))
                    report.console.print(
                        f"  round {round_no}: baseline {b.images_per_s:.2f} images/s, "
                        f"pipeline {p.images_per_s:.2f} images/s"
                        + (f" [red]{len(p.failed)} failed[/]" if p.failed else ""))
            except BaseException:
                report.console.print(f"[red]pipeline run failed[/]; service logs in {bench.logs()}")
                args.keep_state = True
                raise
            finally:
                bench.stop()
    finally:
        if baseline is not None:
            baseline.close()
        if args.keep_state:
            report.console.print(f"inputs, outputs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    result = summarize(args, info, started, pairs, cores)
    print_result(result, cores, args.target)
    if not args.no_save:
        path = report.save(result, RESULTS_DIR)
        report.console.print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if result["problems"]:
        return 2
    return 1 if args.strict and not result["pass"] else 0


def _cpu_per_image(cpu: dict[str, float], images: int) -> float:
    return sum(v for k, v in cpu.items() if k != "other") / images


def _noise(cpu: dict[str, float], seconds: float, cores: int) -> float:
    return cpu.get("other", 0.0) / (seconds * cores)


def summarize(args: argparse.Namespace, info: dict[str, Any], started: str,
              pairs: dict[int, list[tuple[BaselineResult, PipelineResult]]],
              cores: int) -> dict[str, Any]:
    baselines = [b for runs in pairs.values() for b, _ in runs]
    best_b = max(baselines, key=lambda r: r.images_per_s)
    rows = [{"name": f"baseline (pyvips, {args.processes} processes)", "short": "baseline",
             "images": best_b.images,
             "seconds": best_b.seconds, "images_per_s": best_b.images_per_s,
             "rounds": [r.images_per_s for r in baselines],
             "cpu_per_image": _cpu_per_image(best_b.cpu, best_b.images),
             "cpu": best_b.cpu, "noise": _noise(best_b.cpu, best_b.seconds, cores)}]
    ratios, problems, pipeline_detail = [], [], {}
    for threads, paired in pairs.items():
        runs = [p for _, p in paired]
        best = max(runs, key=lambda r: r.images_per_s)
        name = f"pipeline ({args.processes} processes × {threads} thread{'s' if threads > 1 else ''})"
        rows.append({"name": name, "short": f"pipeline ×{threads}t", "images": best.images, "seconds": best.seconds,
                     "images_per_s": best.images_per_s, "rounds": [r.images_per_s for r in runs],
                     "cpu_per_image": _cpu_per_image(best.cpu, best.images), "cpu": best.cpu,
                     "upload_seconds": best.upload_seconds,
                     "first_job_seconds": best.first_job_seconds,
                     "noise": _noise(best.cpu, best.seconds, cores)})
        ratios.append({"name": name, "threads": threads,
                       "ratio": best.images_per_s / best_b.images_per_s,
                       "median_round_ratio": _median([p.images_per_s / b.images_per_s
                                                      for b, p in paired])})
        pipeline_detail[str(threads)] = {"stages": best.stages,
                                         "rounds": [_pipeline_round(r) for r in runs]}
        for run in runs:
            if run.failed:
                problems.append(f"{name}: jobs did not succeed: {run.failed}")
            problems += [f"{name}: {m}" for m in _compare(best_b.outputs, run.outputs)]
    best_ratio = max(ratios, key=lambda r: r["ratio"])
    return {
        "started": started, "machine": info,
        "settings": {"images": args.images, "size": [args.width, args.height],
                     "rounds": args.rounds, "processes": args.processes,
                     "threads": args.thread_counts, "vips_concurrency": args.vips_concurrency,
                     "env": args.env, "quick": args.quick, "target": args.target},
        "rows": rows, "ratios": ratios, "ratio": best_ratio["ratio"],
        "pass": best_ratio["ratio"] >= args.target, "pipeline": pipeline_detail,
        "baseline_rounds": [{"seconds": b.seconds, "images_per_s": b.images_per_s, "cpu": b.cpu}
                            for b in baselines],
        "problems": problems,
    }


def _pipeline_round(run: PipelineResult) -> dict[str, Any]:
    return {"seconds": run.seconds, "images_per_s": run.images_per_s,
            "upload_seconds": run.upload_seconds, "first_job_seconds": run.first_job_seconds,
            "cpu": run.cpu, "stages": run.stages,
            "failed": run.failed}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _compare(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """The pipeline must have made the same derivatives: same sizes, same source hash."""
    problems = []
    for name, outputs in expected.items():
        theirs = got.get(name)
        if theirs is None:
            problems.append(f"{name}: no manifest")
            continue
        for output, value in outputs.items():
            mine = theirs.get(output)
            same = mine == value if output == "metadata.json" else (
                mine is not None and mine[:2] == value[:2])
            if not same:
                problems.append(f"{name}/{output}: pipeline {mine} ≠ baseline {value}")
    return problems


def print_result(result: dict[str, Any], cores: int, target: float) -> None:
    console = report.console
    console.print(report.runs_table(result["rows"]))
    console.print(report.ratio_table(result["ratios"], target))
    for item in result["ratios"]:
        console.print(report.stages_table(item["name"], result["pipeline"][str(item["threads"])]["stages"]))
    for row in result["rows"][1:]:
        console.print(f"{row['short']}: all uploads returned after {row['upload_seconds']:.2f} s, "
                      f"first job started after {row['first_job_seconds']:.2f} s, "
                      f"last manifest after {row['seconds']:.2f} s")
    windows = {row["short"]: (row["cpu"], row["seconds"], row["images"]) for row in result["rows"]}
    console.print(report.cpu_table(windows, cores))
    for row in result["rows"]:
        if row["noise"] > NOISY:
            console.print(f"[yellow]warning[/]: processes that are not ours used "
                          f"{row['noise']:.0%} of the machine during the best '{row['name']}' "
                          "round; numbers are less reliable (re-run on a quiet machine)")
    verdict = "[green]PASS[/]" if result["pass"] else "[red]FAIL[/]"
    console.print(f"ratio pipeline/baseline = [bold]{result['ratio']:.2f}[/] (target ≥ {target}) {verdict}")
    for problem in result["problems"]:
        console.print(f"[red]problem[/]: {problem}")


if __name__ == "__main__":
    sys.exit(main())
