"""The full pipeline, timed from outside as a user sees it.

A :class:`~infra.devstack.LocalStack` (redis-server, moto S3+SQS, SQS poller, API,
Dramatiq workers) on free ports. Files are uploaded with boto3 from a small thread pool
(``heavylift.cli.api_client.upload_file``, which also predicts each job id), and the job records are
polled straight from Redis. The clock runs from the first upload starting to the last job's
``finished_at``, which the worker writes after ``manifest.json`` is stored; every manifest's
presence is confirmed afterwards.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu
from heavylift.cli.api_client import Upload, upload_file
from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, JobState
from heavylift.state.keys import Layout
from heavylift.storage.s3 import s3_client
from infra.devstack import LocalStack

POLL_S = 0.05
UPLOAD_THREADS = 4
SERVICES = ("worker", "moto", "redis", "poller", "api")


@dataclass
class PipelineResult:
    threads: int
    images: int
    seconds: float  # first upload started → last job finished (manifest written)
    upload_seconds: float  # first upload started → last upload (PUT + HEAD) returned
    first_job_seconds: float  # first upload started → first job started on a worker
    stages: dict[str, dict[str, float]]  # per-job latencies: p50, p95, max (seconds)
    cpu: dict[str, float]  # CPU seconds per service over the window, and others'
    failed: dict[str, str] = field(default_factory=dict)  # job id → state / error code
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


class PipelineBench:
    def __init__(
        self,
        state_dir: Path,
        *,
        processes: int,
        threads: int,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.threads = threads
        self.stack = LocalStack(
            state_dir,
            worker_processes=processes,
            worker_threads=threads,
            log_format="json",
            extra_env=extra_env,
        )
        self.settings: Settings | None = None
        self.s3: Any = None
        self.redis: Any = None
        self.batches = 0

    def start(self) -> PipelineBench:
        import redis

        self.stack.start()
        self.settings = self.stack.settings()
        self.s3 = s3_client(self.settings)
        self.redis = redis.Redis.from_url(self.stack.redis_url)
        return self

    def stop(self) -> None:
        self.stack.stop()

    def logs(self) -> Path:
        return self.stack.log_dir

    def service_pids(self) -> dict[str, int | None]:
        return {name: s.pid for name, s in self.stack.services.items() if name in SERVICES}

    def warm_up(self, paths: list[Path], timeout: float = 180) -> None:
        """Untimed: workers import pyvips and open connections, every service sees traffic."""
        result = self.run(paths, label="warmup", timeout=timeout)
        if result.failed:
            raise RuntimeError(
                f"warm-up jobs did not succeed: {result.failed}; logs in {self.logs()}"
            )

    def run(
        self, paths: list[Path], *, label: str | None = None, timeout: float = 600
    ) -> PipelineResult:
        assert self.settings is not None, "start() first"
        self.batches += 1
        prefix = f"{label or 'batch'}-{self.batches}-{os.getpid()}/"
        namespace = self.settings.namespace
        records: dict[str, JobRecord] = {}
        uploads: dict[str, tuple[Upload, float]] = {}  # job id → (upload, epoch when it returned)

        before = cpu.snapshot(self.service_pids(), {"bench": os.getpid()})
        first_start = time.time()
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="upload") as pool:
            futures: list[Future[tuple[Upload, float]]] = [
                pool.submit(self._upload, path, f"{prefix}{path.name}") for path in paths
            ]
            pending: set[str] = set()
            deadline = time.monotonic() + timeout
            while futures or pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(pending) + len(futures)} job(s) unfinished after "
                        f"{timeout:.0f}s; logs in {self.logs()}"
                    )
                for future in [f for f in futures if f.done()]:
                    futures.remove(future)
                    upload, done = future.result()
                    uploads[upload.job_id] = (upload, done)
                    pending.add(upload.job_id)
                if pending:
                    ids = sorted(pending)
                    raws = self.redis.mget([Layout(namespace).job(job_id) for job_id in ids])
                    for job_id, raw in zip(ids, raws, strict=True):
                        if raw is None:
                            continue  # the S3 event has not reached the producer yet
                        record = JobRecord.model_validate_json(raw)
                        if record.state.is_final:
                            records[job_id] = record
                            pending.discard(job_id)
                time.sleep(POLL_S)
        used = cpu.delta(before, cpu.snapshot(self.service_pids(), {"bench": os.getpid()}))

        finished = [r.finished_at.timestamp() for r in records.values() if r.finished_at]
        last_upload = max(done for _, done in uploads.values())
        failed = {
            job_id: (r.error.code if r.error else r.state.value)
            for job_id, r in records.items()
            if r.state is not JobState.SUCCEEDED
        }
        outputs = self._manifests(records, uploads)
        for job_id, record in records.items():
            if record.state is JobState.SUCCEEDED and uploads[job_id][0].path.name not in outputs:
                failed[job_id] = "no manifest.json"
        return PipelineResult(
            threads=self.threads,
            images=len(paths),
            seconds=max(finished) - first_start,
            upload_seconds=last_upload - first_start,
            first_job_seconds=min(
                r.started_at.timestamp() for r in records.values() if r.started_at
            )
            - first_start,
            stages=_stages(records, uploads),
            cpu=used,
            failed=failed,
            outputs=outputs,
        )

    def _upload(self, path: Path, key: str) -> tuple[Upload, float]:
        assert self.settings is not None
        upload = upload_file(self.s3, self.settings, path, key)
        return upload, time.time()

    def _manifests(
        self, records: dict[str, JobRecord], uploads: dict[str, tuple[Upload, float]]
    ) -> dict[str, dict[str, Any]]:
        """Read back each committed manifest (after the clock stopped): input name → outputs."""
        assert self.settings is not None
        found: dict[str, dict[str, Any]] = {}
        for job_id, record in records.items():
            if record.state is not JobState.SUCCEEDED or not record.manifest_key:
                continue
            try:
                body = self.s3.get_object(
                    Bucket=self.settings.results_bucket, Key=record.manifest_key
                )["Body"].read()
            except Exception:  # noqa: BLE001 (reported as a failed job)
                continue
            manifest = json.loads(body)
            outputs: dict[str, Any] = {"metadata.json": manifest["source_sha256"]}
            for entry in manifest["outputs"]:
                name = entry["key"].rsplit("/", 1)[-1]
                if name.endswith(".webp"):
                    outputs[name] = [entry["width"], entry["height"], entry["bytes"]]
            found[uploads[job_id][0].path.name] = outputs
        return found


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:  # linear interpolation between closest ranks
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return {"p50": round(pick(0.5), 3), "p95": round(pick(0.95), 3), "max": round(ordered[-1], 3)}


def _stages(
    records: dict[str, JobRecord], uploads: dict[str, tuple[Upload, float]]
) -> dict[str, dict[str, float]]:
    """Per-job latencies from the job records, split where the time goes:

    * ``latency``: upload returned → job finished (what a user waits for);
    * ``event``: upload returned → job record created (S3 → SQS → SQS poller → producer);
    * ``queued``: record created → a worker started it (Redis queue wait);
    * ``work``: started → finished (GET, decode, encode, PUTs, manifest, record updates).
    """
    stages: dict[str, list[float]] = {"latency": [], "event": [], "queued": [], "work": []}
    for job_id, record in records.items():
        if not (record.started_at and record.finished_at):
            continue
        done = uploads[job_id][1]
        created, started = record.created_at.timestamp(), record.started_at.timestamp()
        finished = record.finished_at.timestamp()
        stages["latency"].append(finished - done)
        stages["event"].append(created - done)
        stages["queued"].append(started - created)
        stages["work"].append(finished - started)
    return {name: percentiles(values) for name, values in stages.items()}
