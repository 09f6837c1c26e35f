"""``python -m bench.chaos`` (``make chaos``): 1,000 jobs through a stack under fire.

A local stack (S3 behind an outage proxy, 2 worker processes × 2 threads, JSON logs) gets
webhook jobs at a steady rate from a client that retries 503s and dropped connections
with the same Idempotency-Key, while a seeded chaos schedule SIGKILLs a random worker
process every 3–8 s, SIGKILLs Redis once (~20 s in, down ~2 s) and takes S3 away for 10 s
(~35 s in). Then every accepted job must be either succeeded (record + manifest.json) or,
for the corrupt sources only, dead-lettered (record failed + a ``.XQ`` entry): anything
else is lost. Exit status 1 on any loss, duplicate, refused job or unexpected dead letter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import chaos_report
from bench.chaos_inputs import enable_versioning, make_sources, plan_jobs, upload_sources
from bench.chaos_load import ChaosMonkey, Submitter
from bench.report import console
from heavylift.state.keys import Layout
from infra.devstack import LocalStack
from infra.provision import aws_client

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"
NAMESPACE = "heavylift"
UPLOADS, RESULTS_BUCKET = "heavylift-uploads", "heavylift-results"
POLL_S = 1.0
SETTLE_S = 3.0  # after the last job is final: a failed job's nack lands in .XQ just after
EXPLAIN_LOST = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    add = parser.add_argument
    add("--jobs", type=int, default=1000, help="webhook jobs to submit (default 1000)")
    add("--rate", type=float, default=20.0, help="jobs per second (default 20)")
    add("--seed", type=int, default=7, help="seeds the job order and the chaos schedule")
    add("--timeout", type=float, default=600.0, help="seconds to wait after the last submission")
    add("--processes", type=int, default=2, help="worker processes (default 2)")
    add("--threads", type=int, default=2, help="threads per worker process (default 2)")
    add("--images", type=int, default=24, help="distinct JPEG sources (default 24)")
    add("--audio", type=int, default=4, help="audio sources (default 4)")
    add("--corrupt", type=int, default=3, help="truncated JPEG sources (default 3)")
    add("--redis-at", type=float, default=20.0, help="seconds in: Redis SIGKILL (default 20)")
    add("--redis-down", type=float, default=2.0, help="seconds Redis stays down (default 2)")
    add("--s3-at", type=float, default=35.0, help="seconds in: the S3 outage (default 35)")
    add("--s3-down", type=float, default=10.0, help="seconds S3 stays down (default 10)")
    add("--keep-state", action="store_true", help="keep sources, stack data and logs")
    add("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="heavylift-chaos-"))
    console.print(
        f"[bold]Heavylift chaos[/]: {args.jobs} jobs at {args.rate:g}/s, "
        f"{args.processes}×{args.threads} workers, seed {args.seed}; state in {work}"
    )
    stack = LocalStack(
        work / "stack",
        worker_processes=args.processes,
        worker_threads=args.threads,
        log_format="json",
        s3_via_proxy=True,
        sqs_poller=False,  # webhook jobs only: uploads must not become jobs of their own
    )
    result: dict[str, Any] = {}
    try:
        console.print("generating sources and starting the stack …")
        sources = make_sources(work / "sources", args.images, args.audio, args.corrupt)
        stack.start()
        s3 = aws_client("s3", stack.moto_url, "us-east-1")
        enable_versioning(s3, RESULTS_BUCKET)
        upload_sources(s3, UPLOADS, sources)
        result = run(stack, args, plan_jobs(sources, args.jobs, args.seed))
    finally:
        stack.request_stop()
        stack.stop()
        keep = args.keep_state or not (result and chaos_report.passed(result))
        if keep:
            console.print(f"sources, Redis data and service logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    show(result)
    chaos_report.save(result, args.output)
    console.print(f"saved {args.output}")
    return 0 if chaos_report.passed(result) else 1


def run(stack: LocalStack, args: argparse.Namespace, plan: list[Any]) -> dict[str, Any]:
    """Submit and wreak havoc at once; wait for the jobs; count."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stop = threading.Event()
    submitter = Submitter(stack.api_url, plan, args.rate, uuid.uuid4().hex[:8], stack.auth_headers)
    monkey = ChaosMonkey(
        stack,
        args.seed,
        redis_at=args.redis_at,
        redis_down=args.redis_down,
        s3_at=args.s3_at,
        s3_down=args.s3_down,
    )
    threads = [
        threading.Thread(target=stack.supervise, name="supervise", daemon=True),
        threading.Thread(target=submitter.run, args=(stop,), name="submitter", daemon=True),
        threading.Thread(target=monkey.run, args=(submitter.done, stop), name="chaos", daemon=True),
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        watch(submitter, monkey, threads[2], client, args)
    finally:
        stop.set()
        stack.request_stop()
        for thread in threads:
            thread.join(30)
    wall = time.monotonic() - began
    time.sleep(SETTLE_S)
    result = collect(stack, submitter, client)
    result.update(
        started=started,
        wall_s=round(wall, 1),
        settings={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        responses=dict(submitter.responses),
        chaos={
            "workers_killed": monkey.kills,
            "redis_restarts": monkey.redis_restarts,
            "s3_outage_s": round(stack.s3_proxy.outage_seconds if stack.s3_proxy else 0.0, 1),
            "s3_connections": stack.s3_proxy.connections if stack.s3_proxy else 0,
            "s3_connections_cut": stack.s3_proxy.cut if stack.s3_proxy else 0,
            "worker_service_restarts": stack.services["worker"].restarts,
            "events": [f"{e.at:7.1f}s  {e.what}" for e in monkey.events],
            "failures": monkey.failures,
        },
    )
    result["explanations"] = explain(stack, client, result["lost_jobs"])
    return result


def watch(
    submitter: Submitter,
    monkey: ChaosMonkey,
    chaos: threading.Thread,
    client: redis.Redis,
    args: argparse.Namespace,
) -> None:
    """Show progress until every accepted job is final (and the chaos is over) or time is up."""
    columns = (
        TextColumn("{task.description:>9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    deadline = float("inf")
    last_line = 0.0
    with Progress(*columns, console=console, transient=False) as progress:
        sent = progress.add_task("submitted", total=args.jobs, status="")
        done = progress.add_task("final", total=args.jobs, status="")
        while time.monotonic() < deadline:
            job_ids = submitter.job_ids()
            final = count_final(client, job_ids)
            status = f"killed {monkey.kills} · Redis restarts {monkey.redis_restarts}" + (
                " · [red]S3 DOWN[/]" if monkey.s3_down_now else ""
            )
            progress.update(sent, completed=len(job_ids), status=status)
            progress.update(done, completed=final if final is not None else 0)
            if not console.is_terminal and time.monotonic() - last_line > 10:
                last_line = time.monotonic()
                shown = "? (Redis away)" if final is None else final
                console.print(f"  submitted {len(job_ids)}, final {shown}; {status}")
            if submitter.done.is_set():
                deadline = min(deadline, time.monotonic() + args.timeout)
                if final == len(job_ids) and not chaos.is_alive():
                    return
            time.sleep(POLL_S)
    console.print(f"[red]deadline passed[/]: {args.timeout:.0f}s after the last submission")


def count_final(client: redis.Redis, job_ids: list[str]) -> int | None:
    """How many of ``job_ids`` have a final state (None while Redis is away)."""
    final = 0
    try:
        for start in range(0, len(job_ids), 500):
            keys = [Layout(NAMESPACE).job(j) for j in job_ids[start : start + 500]]
            for raw in client.mget(keys):
                if raw and json.loads(raw)["state"] in ("succeeded", "failed", "dead"):
                    final += 1
    except redis.RedisError:
        return None
    return final


def collect(stack: LocalStack, submitter: Submitter, client: redis.Redis) -> dict[str, Any]:
    job_ids = sorted(set(submitter.job_ids()))
    s3 = aws_client("s3", stack.moto_url, "us-east-1")
    return chaos_report.account(
        submitter.submissions,
        chaos_report.job_records(client, NAMESPACE, job_ids),
        chaos_report.manifest_versions(s3, RESULTS_BUCKET),
        chaos_report.dead_letters(client, Layout(NAMESPACE)),
    )


def explain(stack: LocalStack, client: redis.Redis, lost: dict[str, str]) -> dict[str, Any]:
    """For the first few lost jobs: why, where their message is, their last log lines."""
    chosen = sorted(lost)[:EXPLAIN_LOST]
    places = chaos_report.message_places(client, NAMESPACE, set(chosen)) if chosen else {}
    return {
        job_id: {
            "reason": lost[job_id],
            "message": places.get(job_id) or ["nowhere in Redis"],
            "log": chaos_report.log_lines(stack.log_dir, job_id),
        }
        for job_id in chosen
    }


def show(result: dict[str, Any]) -> None:
    if not result:
        return
    console.print(chaos_report.table(result))
    console.print("chaos timeline:\n" + "\n".join(result["chaos"]["events"]))
    console.print(f"API answers: {result['responses']}; final states: {result['final_states']}")
    console.print(f"failed attempts by error code: {result['attempt_error_codes']}")
    if result["lost"]:
        console.print(f"[red]lost by reason[/]: {dict(Counter(result['lost_jobs'].values()))}")
    for job_id, info in result["explanations"].items():
        console.print(f"[bold]{job_id}[/]: {info['reason']}; message: {', '.join(info['message'])}")
        for line in info["log"]:
            console.print(f"    {line}", markup=False, highlight=False)
    for name in ("unexpected_dead_letters", "missing_dead_letters", "not_accepted"):
        if result[name]:
            console.print(f"[red]{name.replace('_', ' ')}[/]: {result[name]}")
    if result["duplicated"]:
        console.print(
            f"[red]duplicates[/]: several ids per key {result['keys_with_several_job_ids']}; "
            f"manifests never submitted {result['manifests_never_submitted']}"
        )


if __name__ == "__main__":
    sys.exit(main())
