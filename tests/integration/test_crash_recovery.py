"""Workers die; jobs don't. A killed worker process is replaced and its job runs again at
once; a worker machine that vanishes whole is noticed by heartbeat; a worker stopped for a
deploy puts its unfinished job back; a message that kills every worker it reaches ends in
the dead letters instead of looping."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from actors.broker import build_broker
from heavylift.cli.api_client import upload_file
from heavylift.config import Settings
from heavylift.jobs.models import JobOrigin, JobRecord, JobState, S3Location
from heavylift.jobs.spec import PipelineSpec
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore
from infra.devstack import REPO_DIR, LocalStack, child_pids
from infra.processes import HEAVYLIFT_COMMAND, Service, pid_alive
from infra.provision import aws_client
from infra.samples import write_sample, write_video

pytestmark = pytest.mark.integration

LAYOUT = Layout("heavylift")
RECOVERY_BUDGET_S = 30  # the promise: a killed worker's jobs run again within 30 s


@dataclass(frozen=True)
class Rig:
    """A stack without workers (each test starts its own), and clients on it."""

    stack: LocalStack
    settings: Settings
    client: redis.Redis
    store: JobStore
    s3: Any


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    stack = LocalStack(tmp_path / "stack", workers=False, api=False).start()
    settings = stack.settings()
    client = redis.Redis.from_url(stack.redis_url)
    yield Rig(
        stack,
        settings,
        client,
        JobStore(client, settings.namespace, 600),
        aws_client("s3", stack.s3_endpoint_url, "us-east-1"),
    )
    stack.stop()


def start_workers(
    stack: LocalStack,
    name: str,
    processes: int,
    modules: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Service:
    """``heavylift worker`` under its own name; nothing restarts the supervisor itself."""
    argv = [*HEAVYLIFT_COMMAND, "worker", "--processes", str(processes)]
    argv += ["--threads", "1"]
    for module in modules:
        argv += ["--import", module]
    child_env = {**stack.child_env(), **(env or {})}
    service = Service(name, argv, child_env, stack.log_dir, cwd=REPO_DIR, restart=False)
    stack.services[name] = service
    service.start()
    return service


def children(supervisor: Service) -> dict[int, str]:
    """pid → worker id of the supervisor's live worker processes."""
    found = {}
    for pid in child_pids(supervisor.pid) if supervisor.pid else []:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"HEAVYLIFT_WORKER_ID="):
                found[pid] = entry.split(b"=", 1)[1].decode()
    return found


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def holder(client: redis.Redis, workers: dict[int, str], queue: str) -> int | None:
    """The pid of the worker process that holds a message of ``queue``."""
    for pid, worker_id in workers.items():
        if client.scard(LAYOUT.queue(queue).acks(worker_id)):
            return pid
    return None


def running_with_progress(store: JobStore, job_id: str) -> JobRecord | None:
    record = store.get(job_id)
    return record if record and record.state is JobState.RUNNING and record.progress > 0 else None


def long_video_job(rig: Rig, tmp_path: Path) -> str:
    """Upload a 20 s 720p video and return its job id once it is running, mid-way."""
    video = write_video(tmp_path, "mkv", seconds=20, size="1280x720", name="long")
    job_id = upload_file(rig.s3, rig.settings, video, "long.mkv").job_id
    wait_for(lambda: running_with_progress(rig.store, job_id), 60, "the job to be mid-way")
    return job_id


def final(store: JobStore, job_id: str, timeout: float = 120) -> JobRecord:
    found: JobRecord = wait_for(
        lambda: (r := store.get(job_id)) and r.state.is_final and r, timeout, "the job to end"
    )
    return found


def results_keys(s3: Any, bucket: str, job_id: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{job_id}/").get("Contents", [])
    return {item["Key"] for item in listed}


def test_a_killed_worker_process_is_replaced_and_its_job_runs_again_at_once(
    rig: Rig, tmp_path: Path
) -> None:
    supervisor = start_workers(rig.stack, "workers", processes=2)
    wait_for(lambda: len(children(supervisor)) == 2, 20, "two worker processes")

    job_id = long_video_job(rig, tmp_path)
    before = children(supervisor)
    victim = wait_for(lambda: holder(rig.client, before, "video"), 5, "the job's worker")
    survivor = next(pid for pid in before if pid != victim)

    supervisor_pid = supervisor.pid
    os.kill(victim, signal.SIGKILL)  # as the OOM killer would
    killed_at = time.time()

    def replaced() -> dict[int, str] | None:
        now = children(supervisor)  # (the victim may take a moment to die)
        return now if len(now) == 2 and victim not in now else None

    after = wait_for(replaced, 10, "a replacement")
    assert survivor in after and pid_alive(survivor)
    assert supervisor.pid == supervisor_pid and supervisor.alive()

    record = final(rig.store, job_id)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.attempts == 2
    assert [e.code for e in record.errors] == ["worker_lost"]
    assert record.started_at is not None
    assert record.started_at.timestamp() - killed_at < RECOVERY_BUDGET_S

    # The run that died wrote some outputs; the run that finished wrote the same keys again.
    manifest_keys = {entry.key for entry in record.outputs}
    assert results_keys(rig.s3, rig.settings.results_bucket, job_id) == manifest_keys
    assert sum(key.endswith("manifest.json") for key in manifest_keys) == 1


def test_jobs_of_a_worker_machine_that_vanished_run_elsewhere_within_30s(
    rig: Rig, tmp_path: Path
) -> None:
    machines = [start_workers(rig.stack, name, 1) for name in ("machine-a", "machine-b")]
    for machine in machines:
        wait_for(lambda m=machine: children(m), 20, f"{machine.name}'s worker")

    job_id = long_video_job(rig, tmp_path)
    lost = next(m for m in machines if holder(rig.client, children(m), "video"))
    lost.kill()  # supervisor and worker at once, as if the machine lost power
    killed_at = time.time()

    record = final(rig.store, job_id)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.started_at is not None
    delay = record.started_at.timestamp() - killed_at
    assert rig.settings.heartbeat_timeout_s - 1 < delay < RECOVERY_BUDGET_S


def test_a_worker_stopped_for_a_deploy_puts_its_unfinished_job_back(
    rig: Rig, tmp_path: Path
) -> None:
    """SIGTERM (what a deploy or Ctrl-C sends) gives running jobs the shutdown timeout, then
    the supervisor requeues what is left, so the next worker finishes it."""
    quick = {"HEAVYLIFT_WORKER_SHUTDOWN_TIMEOUT_S": "1"}
    old = start_workers(rig.stack, "old", processes=1, env=quick)
    wait_for(lambda: children(old), 20, "the old worker")
    job_id = long_video_job(rig, tmp_path)

    assert old.proc is not None
    old.proc.send_signal(signal.SIGTERM)  # the supervisor only, as a process manager would
    assert old.proc.wait(30) == 0  # a clean exit, after stopping its child
    video = LAYOUT.queue("video")
    assert rig.client.llen(video.waiting) == 1  # the unfinished job is back on its queue

    start_workers(rig.stack, "new", processes=1)
    record = final(rig.store, job_id)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.attempts == 2 and [e.code for e in record.errors] == ["worker_lost"]


def test_a_message_that_kills_every_worker_ends_in_the_dead_letters(
    rig: Rig, tmp_path: Path
) -> None:
    settings, client, store = rig.settings, rig.client, rig.store
    supervisor = start_workers(
        rig.stack, "workers", processes=2, modules=("tests.integration.crash_actors",)
    )
    wait_for(lambda: len(children(supervisor)) == 2, 20, "two worker processes")

    spec = PipelineSpec.default(settings.thumbnail_widths, settings.thumbnail_quality)
    source = S3Location(bucket=settings.uploads_bucket, key="poison.jpg")
    store.create(
        JobRecord(
            job_id="jpoison", origin=JobOrigin.WEBHOOK, source=source, spec=spec, queue="crash"
        )
    )
    job = {"job_id": "jpoison", "source": source.model_dump(), "spec": spec.model_dump(mode="json")}
    broker = build_broker(settings)
    broker.enqueue(
        dramatiq.Message(
            queue_name="crash",
            actor_name="crash_worker",
            args=({**job, "origin": "webhook"},),
            kwargs={},
            options={},
        )
    )
    wait_for(lambda: client.zcard(LAYOUT.queue("crash").dead), 60, "the dead letter")
    record = store.get("jpoison")
    assert record is not None and record.state is JobState.DEAD
    assert record.error is not None and record.error.code == "poison_message"
    assert record.error.message.startswith(f"{settings.max_deliveries} deliveries died")
    assert client.llen(LAYOUT.queue("crash").waiting) == 0  # not looping any more
    log = supervisor.log_path.read_text()
    assert log.count("killed by SIGSEGV") == settings.max_deliveries

    # The workers that replaced the crashed ones still do real work.
    wait_for(lambda: len(children(supervisor)) == 2, 40, "the workers to be back")
    photo = write_sample(tmp_path / "after-poison.jpg", 640, 480, seed=5)
    job_id = upload_file(rig.s3, settings, photo, "after-poison.jpg").job_id
    assert final(store, job_id, 60).state is JobState.SUCCEEDED
