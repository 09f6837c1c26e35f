"""Workers are supervised: a killed worker is replaced and work goes on; a malformed message
is dead-lettered at once instead of being retried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis

from heavylift.config import Settings
from heavylift.jobs.identity import default_spec, s3_job_id
from heavylift.jobs.models import JobState, S3Location
from heavylift.state.store import JobStore
from infra.devstack import LocalStack
from infra.processes import pid_alive
from infra.provision import aws_client
from infra.samples import write_sample

pytestmark = pytest.mark.integration


@pytest.fixture
def small_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of its own: killing its worker must not disturb the shared one."""
    stack = LocalStack(tmp_path / "stack", worker_processes=1, worker_threads=1, api=False).start()
    supervisor = threading.Thread(target=stack.supervise, daemon=True)
    supervisor.start()
    yield stack
    stack.stop()
    supervisor.join(5)


def wait_for_state(store: JobStore, job_id: str, timeout: float = 60) -> JobState | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record is not None and record.state.is_final:
            return record.state
        time.sleep(0.1)
    return None


def test_a_killed_worker_is_replaced_and_new_uploads_complete(
    small_stack: LocalStack, tmp_path: Path
) -> None:
    worker = small_stack.services["worker"]
    killed_pid = worker.pid
    assert killed_pid is not None
    worker.kill()  # SIGKILL the whole worker process group, like the OOM killer would
    deadline = time.monotonic() + 10
    while not (worker.alive() and worker.pid != killed_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.restarts == 1 and worker.alive() and not pid_alive(killed_pid)

    settings = small_stack.settings()
    s3 = aws_client("s3", small_stack.s3_endpoint_url, "us-east-1")
    path = write_sample(tmp_path / "after-crash.jpg", 800, 600, seed=41)
    from heavylift.cli.api_client import upload_file

    job_id = upload_file(s3, settings, path, "after-crash.jpg").job_id
    store = JobStore(redis.Redis.from_url(small_stack.redis_url), "heavylift", 3600)
    assert wait_for_state(store, job_id) is JobState.SUCCEEDED
    record = store.get(job_id)
    assert record is not None and isinstance(record.source, S3Location)
    assert job_id == s3_job_id(record.source, default_spec(settings))


def test_a_malformed_message_is_dead_lettered_without_retries(small_stack: LocalStack) -> None:
    client = redis.Redis.from_url(small_stack.redis_url)
    from actors.broker import build_broker

    broker = build_broker(Settings(_env_file=None, redis_url=small_stack.redis_url))  # type: ignore[call-arg]
    message = broker.enqueue(
        dramatiq.Message(
            queue_name="image",
            actor_name="process_image",
            args=({"job_id": 42},),
            kwargs={},
            options={},
        )
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and client.zcard("heavylift:image.XQ") == 0:
        time.sleep(0.1)
    assert client.zcard("heavylift:image.XQ") == 1
    raw = client.hget("heavylift:image.XQ.msgs", message.options["redis_message_id"])
    assert isinstance(raw, bytes)
    dead = dramatiq.Message.decode(raw)
    assert dead.message_id == message.message_id
    assert dead.options.get("retries", 0) == 0  # failed on its first delivery, never retried
    assert client.zcard("heavylift:image.DQ") == 0  # and no delayed retry is waiting
