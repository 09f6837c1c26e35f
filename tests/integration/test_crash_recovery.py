"""Workers die; jobs don't. A killed worker process is replaced and its job runs again at
once; a worker machine that vanishes whole is noticed by heartbeat; a message that kills
every worker it reaches ends in the dead letters instead of looping."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from actors.broker import build_broker
from heavylift.broker_layout import Layout
from heavylift.client import upload_file
from heavylift.config import Settings
from heavylift.jobstore import JobStore
from heavylift.models import JobOrigin, JobRecord, JobState, S3Location
from heavylift.samples import write_sample, write_video
from heavylift.spec import PipelineSpec
from infra.devstack import REPO_DIR, LocalStack
from infra.processes import Service, pid_alive
from infra.provision import aws_client

pytestmark = pytest.mark.integration

LAYOUT = Layout("heavylift")
RECOVERY_BUDGET_S = 30  # the promise: a killed worker's jobs run again within 30 s


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path / "stack", workers=False, api=False).start()
    yield stack
    stack.stop()


def settings_of(stack: LocalStack) -> Settings:
    fields = {k.removeprefix("HEAVYLIFT_").lower(): v for k, v in stack.env.items()}
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def start_workers(
    stack: LocalStack, name: str, processes: int, modules: tuple[str, ...] = ()
) -> Service:
    """``heavylift worker`` under its own name; nothing restarts the supervisor itself."""
    argv = [sys.executable, "-m", "heavylift", "worker", "--processes", str(processes)]
    argv += ["--threads", "1"]
    for module in modules:
        argv += ["--import", module]
    service = Service(name, argv, stack.child_env(), stack.log_dir, cwd=REPO_DIR, restart=False)
    stack.services[name] = service
    service.start()
    return service


def children(supervisor: Service) -> dict[int, str]:
    """pid → worker id of the supervisor's live worker processes."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            if int(fields[1]) != supervisor.pid or fields[0] == "Z":
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        for entry in environ:
            if entry.startswith(b"HEAVYLIFT_WORKER_ID="):
                found[int(stat.parent.name)] = entry.split(b"=", 1)[1].decode()
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


def results_keys(s3: Any, bucket: str, job_id: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{job_id}/").get("Contents", [])
    return {item["Key"] for item in listed}


def test_a_killed_worker_process_is_replaced_and_its_job_runs_again_at_once(
    stack: LocalStack, tmp_path: Path
) -> None:
    settings = settings_of(stack)
    client = redis.Redis.from_url(stack.redis_url)
    store = JobStore(client, settings.namespace, 600)
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    supervisor = start_workers(stack, "workers", processes=2)
    wait_for(lambda: len(children(supervisor)) == 2, 20, "two worker processes")

    video = write_video(tmp_path, "mkv", seconds=20, size="1280x720", name="long")
    job_id = upload_file(s3, settings, video, "long.mkv").job_id
    wait_for(lambda: running_with_progress(store, job_id), 60, "the job to be mid-way")
    before = children(supervisor)
    victim = wait_for(lambda: holder(client, before, "video"), 5, "the worker holding the job")
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

    record = wait_for(
        lambda: (r := store.get(job_id)) and r.state.is_final and r, 120, "the job to finish"
    )
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.attempts == 2
    assert [e.code for e in record.errors] == ["worker_lost"]
    assert record.started_at is not None
    assert record.started_at.timestamp() - killed_at < RECOVERY_BUDGET_S

    # The run that died wrote some outputs; the run that finished wrote the same keys again.
    manifest_keys = {entry.key for entry in record.outputs}
    assert results_keys(s3, settings.results_bucket, job_id) == manifest_keys
    assert sum(key.endswith("manifest.json") for key in manifest_keys) == 1


def test_jobs_of_a_worker_machine_that_vanished_run_elsewhere_within_30s(
    stack: LocalStack, tmp_path: Path
) -> None:
    settings = settings_of(stack)
    client = redis.Redis.from_url(stack.redis_url)
    store = JobStore(client, settings.namespace, 600)
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    machines = [start_workers(stack, name, processes=1) for name in ("machine-a", "machine-b")]
    for machine in machines:
        wait_for(lambda m=machine: children(m), 20, f"{machine.name}'s worker")

    video = write_video(tmp_path, "mkv", seconds=20, size="1280x720", name="long")
    job_id = upload_file(s3, settings, video, "long.mkv").job_id
    wait_for(lambda: running_with_progress(store, job_id), 60, "the job to be mid-way")
    lost = next(m for m in machines if holder(client, children(m), "video"))
    lost.kill()  # supervisor and worker at once, as if the machine lost power
    killed_at = time.time()

    record = wait_for(
        lambda: (r := store.get(job_id)) and r.state.is_final and r, 120, "the job to finish"
    )
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.started_at is not None
    delay = record.started_at.timestamp() - killed_at
    assert settings.heartbeat_timeout_s - 1 < delay < RECOVERY_BUDGET_S


def test_a_message_that_kills_every_worker_ends_in_the_dead_letters(
    stack: LocalStack, tmp_path: Path
) -> None:
    settings = settings_of(stack)
    client = redis.Redis.from_url(stack.redis_url)
    store = JobStore(client, settings.namespace, 600)
    supervisor = start_workers(
        stack, "workers", processes=2, modules=("tests.integration.crash_actors",)
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
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    photo = write_sample(tmp_path / "after-poison.jpg", 640, 480, seed=5)
    job_id = upload_file(s3, settings, photo, "after-poison.jpg").job_id
    record = wait_for(
        lambda: (r := store.get(job_id)) and r.state.is_final and r, 60, "a normal job"
    )
    assert record.state is JobState.SUCCEEDED
