"""Worker memory: peak RSS while one job runs, measured from outside the worker.

One :class:`~infra.devstack.LocalStack` with **1 worker process × 1 thread**, so one job at
a time. Each input is uploaded with ``heavylift.cli.api_client.upload_file`` (the S3 event creates
the job, as for users); the job record is polled from Redis until it is final; meanwhile
:class:`bench.rss.RssSampler` samples ``/proc`` every 20 ms: the Dramatiq worker child
(the Python process running the job, exact peak from the kernel's ``VmHWM``) and that
process plus its ffmpeg children (the largest sum of simultaneous RSS). moto's RSS is
sampled for context only: the S3 emulator holds whole objects in memory, AWS does not.

Targets (issue 3): the 2 GiB video's peak within 1.2× the 20 MiB video's (measured in the
same run) and no run above 300 MB. See docs/benchmarks.md, "Memory".
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import rss
from bench.memory_inputs import MemoryInput, make_jpeg, make_videos, make_warm_video
from heavylift.cli.api_client import upload_file
from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, JobState
from heavylift.state.store import JobStore
from heavylift.storage.s3 import s3_client
from infra.devstack import LocalStack

MB = 1_000_000  # RSS is reported in MB (10^6 bytes); sizes of inputs in MiB/GiB
TARGET_RATIO = 1.2
TARGET_MB = 300
IDLE_S = 1.0  # the worker's idle RSS is the median over this long before each upload
EXPECTED = {"video": ("preview.mp4", "poster.jpg", "metadata.json"), "image": ("metadata.json",)}


@dataclass(frozen=True)
class MemoryOptions:
    small_mib: float = 20
    big_mib: float = 2048
    jpeg_size: tuple[int, int] = (10_000, 10_000)
    video_size: str = "1920x1080"
    video_mbps: float = 100.0
    env: tuple[tuple[str, str], ...] = ()  # extra environment for the stack
    interval_s: float = 0.02
    job_timeout_s: float = 1800


class MemoryBench:
    def __init__(self, state_dir: Path, env: dict[str, str]) -> None:
        self.stack = LocalStack(
            state_dir,
            worker_processes=1,
            worker_threads=1,
            api=False,
            log_format="json",
            extra_env=env,
        )
        self.settings: Settings | None = None
        self.s3: Any = None
        self.jobs: JobStore | None = None

    def start(self) -> MemoryBench:
        import redis

        self.stack.start()
        self.settings = self.stack.settings()
        self.s3 = s3_client(self.settings)
        client = redis.Redis.from_url(self.stack.redis_url)
        self.jobs = JobStore(client, self.settings.namespace, self.settings.job_ttl_seconds)
        return self

    def stop(self) -> None:
        self.stack.stop()

    def worker_child(self, timeout: float = 30) -> int:
        """The pid of the worker process (``heavylift worker`` spawns it, then only supervises)."""
        supervisor = self.stack.services["worker"].pid
        assert supervisor is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                c
                for c in rss.children(supervisor)
                if "python" in (rss.status(c) or {}).get("name", "")
            ]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise RuntimeError(f"expected one worker child of {supervisor}, found {found}")
            time.sleep(0.1)
        raise RuntimeError(f"no worker child under pid {supervisor}; logs in {self.stack.log_dir}")

    def run(self, item: MemoryInput, key: str, opts: MemoryOptions) -> dict[str, Any]:
        """Upload ``item``, wait for its job, return the measurements (raises if it failed)."""
        assert self.settings is not None and self.jobs is not None
        child = self.worker_child()
        idle = _idle_rss(child)
        moto = self.stack.services["moto"].pid
        sampler = rss.RssSampler(child, {"moto": moto} if moto else {}, opts.interval_s).start()
        try:
            started = time.monotonic()
            upload = upload_file(self.s3, self.settings, item.path, key)
            upload_s = time.monotonic() - started
            sampler.gap_from = time.monotonic()
            record = self._wait(upload.job_id, opts.job_timeout_s)
        finally:
            peaks = sampler.stop()
        if self.worker_child() != child:
            raise RuntimeError(f"the worker child {child} was replaced during the job")
        outputs = self._check(record, item)
        assert record.started_at and record.finished_at
        return {
            "label": item.label,
            "input": item.path.name,
            "kind": item.kind,
            "bytes": item.bytes,
            "duration_s": item.duration_s,
            "detail": item.detail,
            "generate_s": item.generate_seconds,
            "upload_s": round(upload_s, 2),
            "processing_s": round((record.finished_at - record.started_at).total_seconds(), 2),
            "job_id": record.job_id,
            "outputs": outputs,
            "worker_pid": child,
            "idle_rss": idle,
            "master_rss": rss.rss(self.stack.services["worker"].pid or 0),
            "peak_worker": peaks.process,
            "peak_tree": peaks.tree,
            "peak_ffmpeg": max(
                (v for k, v in peaks.children.items() if k.startswith("ffmpeg")), default=0
            ),
            "peak_moto": peaks.others.get("moto", 0),
            "peaks": peaks.as_dict(),
        }

    def _wait(self, job_id: str, timeout: float) -> JobRecord:
        assert self.jobs is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.jobs.get(job_id)
            if record is not None and record.state.is_final:
                return record
            time.sleep(0.1)
        raise TimeoutError(
            f"job {job_id} not finished after {timeout:.0f}s; logs in {self.stack.log_dir}"
        )

    def _check(self, record: JobRecord, item: MemoryInput) -> dict[str, int]:
        """Fail loudly unless the job succeeded and its manifest lists every expected output,
        each of which exists in the results bucket with the listed size."""
        assert self.settings is not None
        where = f"{item.label}, job {record.job_id}; logs in {self.stack.log_dir}"
        if record.state is not JobState.SUCCEEDED or not record.manifest_key:
            error = f"{record.error.code}: {record.error.message}" if record.error else ""
            raise RuntimeError(f"job {record.state.value} {error} ({where})")
        bucket = self.settings.results_bucket
        manifest = json.loads(
            self.s3.get_object(Bucket=bucket, Key=record.manifest_key)["Body"].read()
        )
        listed = {e["key"].rsplit("/", 1)[-1]: e for e in manifest["outputs"]}
        missing = [name for name in EXPECTED[item.kind] if name not in listed]
        if item.kind == "image" and not any(name.endswith(".webp") for name in listed):
            missing.append("thumbnails (*.webp)")
        if missing:
            raise RuntimeError(f"manifest lacks {missing} ({where})")
        for entry in listed.values():
            head = self.s3.head_object(Bucket=bucket, Key=entry["key"])
            if head["ContentLength"] != entry["bytes"] or entry["bytes"] <= 0:
                raise RuntimeError(
                    f"{entry['key']} is {head['ContentLength']} bytes, "
                    f"manifest says {entry['bytes']} ({where})"
                )
        return {name: entry["bytes"] for name, entry in listed.items()}


def _idle_rss(pid: int) -> int:
    values = []
    deadline = time.monotonic() + IDLE_S
    while time.monotonic() < deadline:
        values.append(rss.rss(pid))
        time.sleep(0.05)
    return sorted(values)[len(values) // 2]


def run_memory(work: Path, opts: MemoryOptions, say: Any = print) -> dict[str, Any]:
    """Generate the inputs, run them one by one on a fresh stack, return the result."""
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    say(
        f"memory: generating a {opts.small_mib:g} MiB and a {opts.big_mib:g} MiB video and a "
        f"{opts.jpeg_size[0]}×{opts.jpeg_size[1]} JPEG …"
    )
    small, big = make_videos(
        work / "inputs", opts.small_mib, opts.big_mib, size=opts.video_size, mbps=opts.video_mbps
    )
    jpeg = make_jpeg(work / "inputs", *opts.jpeg_size)
    warm_video = make_warm_video(work / "warm")
    warm_jpeg = make_jpeg(work / "warm", 1600, 1200)
    generate_s = time.monotonic() - clock
    say(
        f"memory: inputs made in {generate_s:.1f} s (small video {small.generate_seconds:.1f} s, "
        f"big {big.generate_seconds:.1f} s, JPEG {jpeg.generate_seconds:.1f} s); "
        "starting a stack with 1 worker process × 1 thread …"
    )
    bench = MemoryBench(work / "stack", dict(opts.env))
    runs: list[dict[str, Any]] = []
    try:
        bench.start()
        for n, item in enumerate((warm_video, warm_jpeg)):  # imports, pools, first-use caches
            bench.run(item, f"memory-warmup/{n}-{item.path.name}", opts)
        for n, item in enumerate((small, big, jpeg, small)):
            result = bench.run(item, f"memory/{n}-{item.path.name}", opts)
            if n == 3:
                result["label"] += " (again)"
            runs.append(result)
            say(
                f"memory: {result['label']}: {result['processing_s']:.1f} s processing, peak "
                f"worker {result['peak_worker'] / MB:.0f} MB, worker+ffmpeg "
                f"{result['peak_tree'] / MB:.0f} MB"
            )
        idle_after = _idle_rss(bench.worker_child())
    except BaseException:
        say(f"memory benchmark failed; service logs in {bench.stack.log_dir}")
        raise
    finally:
        bench.stop()
    return summarize(started_at, opts, runs, idle_after, generate_s, time.monotonic() - clock)


def summarize(
    started: str,
    opts: MemoryOptions,
    runs: list[dict[str, Any]],
    idle_after: int,
    generate_s: float,
    total_s: float,
) -> dict[str, Any]:
    small, big = runs[0], runs[1]
    tree_ratio = big["peak_tree"] / small["peak_tree"]
    worker_ratio = big["peak_worker"] / small["peak_worker"]
    highest = max(runs, key=lambda r: r["peak_tree"])
    checks = [
        {
            "name": f"{big['label']} peak within {TARGET_RATIO}× of {small['label']} peak "
            "(worker+ffmpeg)",
            "value": round(tree_ratio, 3),
            "pass": tree_ratio <= TARGET_RATIO,
        },
        {
            "name": f"{big['label']} peak within {TARGET_RATIO}× of {small['label']} peak "
            "(worker process)",
            "value": round(worker_ratio, 3),
            "pass": worker_ratio <= TARGET_RATIO,
        },
        {
            "name": f"no run above {TARGET_MB} MB (worker+ffmpeg; highest: {highest['label']})",
            "value": round(highest["peak_tree"] / MB, 1),
            "pass": highest["peak_tree"] <= TARGET_MB * MB,
        },
    ]
    return {
        "kind": "memory",
        "started": started,
        "options": {**opts.__dict__, "env": dict(opts.env)},
        "runs": runs,
        "idle_after": idle_after,
        "checks": checks,
        "pass": all(c["pass"] for c in checks),
        "generate_s": round(generate_s, 1),
        "total_s": round(total_s, 1),
    }
