"""Per-kind workers and the processing time limit, each on a stack of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from heavylift.cli.api_client import upload_file
from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, JobState
from heavylift.state.store import JobStore
from infra.devstack import LocalStack
from infra.provision import aws_client
from infra.samples import write_audio, write_sample, write_video

pytestmark = pytest.mark.integration


def wait_final(store: JobStore, job_id: str, timeout: float = 60) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record is not None and record.state.is_final:
            return record
        time.sleep(0.1)
    raise AssertionError(f"{job_id} not final: {store.get(job_id)}")


def stack_for(tmp_path: Path, **kwargs: Any) -> Iterator[tuple[LocalStack, Settings, JobStore]]:
    stack = LocalStack(
        tmp_path / "stack", worker_processes=1, worker_threads=1, api=False, **kwargs
    ).start()
    try:
        settings = stack.settings()
        yield (
            stack,
            settings,
            JobStore(redis.Redis.from_url(stack.redis_url), settings.namespace, 600),
        )
    finally:
        stack.stop()


@pytest.fixture
def queue_stack(tmp_path: Path) -> Iterator[tuple[LocalStack, Settings, JobStore]]:
    yield from stack_for(tmp_path, workers=False)


@pytest.fixture
def strict_stack(tmp_path: Path) -> Iterator[tuple[LocalStack, Settings, JobStore]]:
    yield from stack_for(
        tmp_path, extra_env={"HEAVYLIFT_MAX_JOB_SECONDS": "6", "HEAVYLIFT_MAX_DURATION_S": "300"}
    )


def test_a_worker_for_one_queue_leaves_the_others_alone(
    queue_stack: tuple[LocalStack, Settings, JobStore], tmp_path: Path
) -> None:
    stack, settings, store = queue_stack
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    stack.start_worker(queues=("image",), name="image-worker")
    audio = upload_file(s3, settings, write_audio(tmp_path, "mp3"), "a/tone.mp3").job_id
    image = upload_file(s3, settings, write_sample(tmp_path / "p.jpg", 800, 600), "i/p.jpg").job_id
    assert wait_final(store, image).state is JobState.SUCCEEDED
    time.sleep(1.5)  # ample time for an audio job, had anyone taken it
    waiting = store.get(audio)
    assert waiting is not None and waiting.state is JobState.QUEUED and waiting.queue == "audio"

    stack.start_worker(queues=("audio",), name="audio-worker")
    assert wait_final(store, audio).state is JobState.SUCCEEDED


def test_a_job_past_its_time_limit_is_stopped_and_the_worker_goes_on(
    strict_stack: tuple[LocalStack, Settings, JobStore], tmp_path: Path
) -> None:
    stack, settings, store = strict_stack
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    worker_pid = stack.services["worker"].pid
    slow = write_video(tmp_path, "mkv", seconds=120, size="1920x1080", rate=10, name="slow")
    too_long = write_video(
        tmp_path, "mkv", seconds=400, size="160x120", rate=1, audio=False, name="long"
    )

    job_id = upload_file(s3, settings, slow, "v/slow.mkv").job_id
    progress_seen = []
    deadline = time.monotonic() + 90
    while (record := store.get(job_id)) is None or not record.state.is_final:
        assert time.monotonic() < deadline
        if record is not None and record.state is JobState.RUNNING:
            progress_seen.append(record.progress)
        time.sleep(0.1)
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code == "timeout"
    assert any(0 < p < 1 for p in progress_seen)  # ffmpeg's progress reached the record
    assert (record.finished_at - record.started_at).total_seconds() < 12  # type: ignore[operator]

    rejected = wait_final(store, upload_file(s3, settings, too_long, "v/long.mkv").job_id)
    assert rejected.state is JobState.FAILED and rejected.error is not None
    assert rejected.error.code == "too_large" and "limit is 300" in rejected.error.message

    photo = write_sample(tmp_path / "after.jpg", 640, 480)
    assert (
        wait_final(store, upload_file(s3, settings, photo, "i/after.jpg").job_id).state
        is JobState.SUCCEEDED
    )
    assert stack.services["worker"].pid == worker_pid and stack.services["worker"].alive()
