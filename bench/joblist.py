"""``python -m bench.joblist``: the dashboard's filtered job list at 1,000 and 100,000 jobs.

One run starts its own redis-server (production config: AOF, noeviction) on a free port,
seeds 1,000 job records with their index entries in one namespace and 100,000 in another,
then times the same filtered page through ``heavylift.state.index.list_jobs`` at both sizes,
alternating call by call so that load from elsewhere on the machine hits both alike; it
prints both medians and their ratio. Target: the 100,000-job page within 2x of the
1,000-job page. Seeding writes raw JSON through pipelines (a copy of one real record per
job), because building 100,000 pydantic records would measure pydantic, not the index.

The mix is a week of uploads: 70 % images, 20 % videos, 10 % audio; most jobs succeeded,
6 % failed with a permanent error, 2 % are dead, the last hour's jobs are still queued or
running. The page: failed images, error ``corrupt_media``, the last 24 hours, 50 a page.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench.joblist_page import time_pages
from heavylift.jobs.models import JobOrigin, JobRecord, JobState, S3Location
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.state import index as job_index
from heavylift.state.index import JobFilter, JobPage, list_jobs
from heavylift.state.keys import Layout
from infra.processes import Service, free_port
from infra.redis_service import REDIS_CONF, answers_ping, redis_server_binary

TTL_S = 30 * 24 * 3600
TARGET = 2.0
WEEK_MS = 7 * 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
KINDS = (("image", 0.7, ".jpg"), ("video", 0.2, ".mp4"), ("audio", 0.1, ".mp3"))
PERMANENT = ("corrupt_media", "unsupported_media", "too_large", "not_found")
PERMANENT_WEIGHTS = (0.4, 0.35, 0.2, 0.05)
TRANSIENT = ("storage_unavailable", "timeout", "worker_lost")
WORDS = ("holiday", "invoice", "cat", "beach", "wedding", "scan", "promo", "clip", "podcast")


@dataclass(frozen=True)
class Job:
    """What the index and the record need of one seeded job."""

    job_id: str
    created_ms: int
    state: str
    queue: str
    media: str | None
    code: str | None
    key: str


def pick_state(rng: random.Random, age_ms: int) -> tuple[str, str | None]:
    """A state and error code: recent jobs may still be waiting, old ones are final."""
    if age_ms < HOUR_MS and rng.random() < 0.3:
        return rng.choice(("queued", "running")), None
    roll = rng.random()
    if roll < 0.06:
        return "failed", rng.choices(PERMANENT, PERMANENT_WEIGHTS)[0]
    if roll < 0.08:
        return "dead", rng.choice(TRANSIENT)
    return "succeeded", None


def make_job(rng: random.Random, n: int, now_ms: int) -> Job:
    kind, _, suffix = rng.choices(KINDS, [weight for _, weight, _ in KINDS])[0]
    queue = kind if rng.random() > 0.02 else "image"  # 2 %: the name pointed elsewhere
    age = rng.randrange(WEEK_MS)
    state, code = pick_state(rng, age)
    user = rng.randrange(500)
    key = f"uploads/u{user:03d}/{rng.choice(WORDS)}_{n:06d}{suffix}"
    media = kind if state not in ("queued", "running") else queue
    return Job(f"j{n:031x}", now_ms - age, state, queue, media, code, key)


def template() -> dict[str, Any]:
    """One realistic record as JSON-ready data, copied for every seeded job."""
    record = JobRecord(
        job_id="j0",
        origin=JobOrigin.S3_EVENT,
        source=S3Location(bucket="uploads", key="x.jpg", etag="9b2cf535f27731c974343645a3985328"),
        spec=PipelineSpec.default((256, 1024), 80),
        queue="image",
    )
    return record.model_dump(mode="json")


def document(base: dict[str, Any], job: Job) -> str:
    created = datetime.fromtimestamp(job.created_ms / 1000, UTC).isoformat()
    error = None
    if job.code:
        error = {"attempt": 1, "code": job.code, "message": "bench", "transient": False}
        error["at"] = created
    doc = {
        **base,
        "job_id": job.job_id,
        "state": job.state,
        "queue": job.queue,
        "media_kind": job.media if job.state not in ("queued", "running") else None,
        "source": {**base["source"], "key": job.key},
        "created_at": created,
        "updated_at": created,
        "error": error,
        "errors": [error] if error else [],
    }
    return json.dumps(doc, separators=(",", ":"))


def seed(client: redis.Redis, ns: str, count: int, now_ms: int, rng: random.Random) -> None:
    """``count`` records and their index entries, 2,000 jobs a pipeline round trip."""
    base = template()
    registry: set[str] = set()
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        job = make_job(rng, n, now_ms)
        pipe.set(Layout(ns).job(job.job_id), document(base, job), ex=TTL_S)
        keys = job_index.keys_for(ns, job.state, job.queue, job.media, job.code)
        for key in keys:
            pipe.zadd(key, {job.job_id: job.created_ms})
        registry.update(keys)
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.sadd(Layout(ns).job_index_registry, *registry)
    pipe.execute()


def pages(now_ms: int) -> dict[str, JobFilter]:
    """The pages timed, by name. ``images`` (succeeded images of the last 24 h) fills its
    50 rows at both sizes, so its ratio compares equal work: the target is judged on it.
    ``failures`` (failed images, ``corrupt_media``, last 24 h) is rare by nature: about 5
    rows at 1,000 jobs against a full 50 at 100,000, so its ratio also counts 10x the rows."""
    since = datetime.fromtimestamp(now_ms / 1000, UTC) - timedelta(hours=24)
    images = JobFilter(state=JobState.SUCCEEDED, media_type=MediaKind.IMAGE, since=since)
    failures = JobFilter(
        state=JobState.FAILED, media_type=MediaKind.IMAGE, since=since, error_code="corrupt_media"
    )
    return {"images": images, "failures": failures}


@dataclass(frozen=True)
class Timing:
    jobs: int
    median_ms: float
    rows: int
    scanned: int
    estimate: int


def time_page(
    client: redis.Redis, filters: JobFilter, calls: int, sizes: dict[str, int]
) -> dict[str, Timing]:
    """Median wall time of ``calls`` identical page requests per namespace, alternating."""
    samples: dict[str, list[float]] = {ns: [] for ns in sizes}
    pages: dict[str, JobPage] = {}
    for n in range(calls + 5):  # the first 5 rounds warm up
        for ns in sizes:
            began = time.perf_counter()
            pages[ns] = list_jobs(client, ns, filters, limit=50)
            if n >= 5:
                samples[ns].append((time.perf_counter() - began) * 1000)
    return {
        ns: Timing(
            sizes[ns],
            statistics.median(samples[ns]),
            len(pages[ns].jobs),
            pages[ns].scanned,
            pages[ns].total_estimate,
        )
        for ns in sizes
    }


def start_redis(directory: Path) -> tuple[Service, redis.Redis]:
    port = free_port()
    argv = [redis_server_binary(), str(REDIS_CONF), "--port", str(port), "--dir", str(directory)]
    service = Service("redis", argv, {"PATH": "/usr/bin:/bin"}, directory, restart=False)
    service.start()
    deadline = time.monotonic() + 10
    while not _answers(port):
        if time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"redis-server did not start:\n{service.tail()}")
        time.sleep(0.05)
    return service, redis.Redis(port=port)


def _answers(port: int) -> bool:
    try:
        return answers_ping(port)
    except redis.RedisError:
        return False


def report(timings: dict[str, dict[str, Timing]]) -> str:
    head = f"{'page':<9} {'jobs':>8} {'median ms':>10} {'rows':>5} {'scanned':>8} {'estimate':>9}"
    lines = [head]
    for name, by_size in timings.items():
        small, big = by_size["small"], by_size["big"]
        for t in (small, big):
            lines.append(
                f"{name:<9} {t.jobs:>8,} {t.median_ms:>10.3f} {t.rows:>5} {t.scanned:>8}"
                f" {t.estimate:>9}"
            )
        lines.append(f"{name:<9} ratio {big.median_ms / small.median_ms:.2f}")
    ratio = timings["images"]["big"].median_ms / timings["images"]["small"].median_ms
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    lines.append(f"images page 100k/1k: {ratio:.2f} (target <= {TARGET:.1f}) {verdict}")
    return "\n".join(lines)


PAGE_QUERY = "state=succeeded&media_type=image&since=24h&limit=50"


def run(calls: int, big: int) -> tuple[dict[str, dict[str, Timing]], dict[str, float]]:
    """Every core page's timings by namespace (``small``: 1,000 jobs, ``big``: ``big`` jobs),
    and the dashboard's HTML page for the images filter (median ms by namespace)."""
    directory = Path(tempfile.mkdtemp(prefix="joblist-"))
    service, client = start_redis(directory)
    try:
        now_ms = job_index.created_ms(datetime.now(UTC))
        sizes = {"small": 1000, "big": big}
        for ns, count in sizes.items():
            seed(client, ns, count, now_ms, random.Random(42))
        core = {name: time_page(client, f, calls, sizes) for name, f in pages(now_ms).items()}
        port = client.connection_pool.connection_kwargs["port"]
        html = time_pages(f"redis://127.0.0.1:{port}/0", list(sizes), PAGE_QUERY, calls)
        return core, html
    finally:
        client.close()
        service.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per size (>= 50)")
    parser.add_argument("--jobs", type=int, default=100_000, help="the large size")
    options = parser.parse_args()
    timings, html = run(max(50, options.calls), options.jobs)
    print("job list pages, limit 50, newest first, median of", max(50, options.calls), "calls")
    print("  images:   state=succeeded media_type=image since=now-24h")
    print("  failures: state=failed media_type=image since=now-24h error_code=corrupt_media")
    print(report(timings))
    ratio = html["big"] / html["small"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"dashboard page GET /dashboard/jobs?{PAGE_QUERY}: {html['small']:.2f} ms at 1,000 jobs,"
        f" {html['big']:.2f} ms at {options.jobs:,}; ratio {ratio:.2f}"
        f" (target <= {TARGET:.1f}) {verdict}"
    )


if __name__ == "__main__":
    main()
