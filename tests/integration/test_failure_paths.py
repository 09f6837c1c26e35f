"""Failures end well: an S3 outage is retried until the job succeeds (even across a Redis
restart while the retry waits), a job whose input was fixed succeeds when its dead letter is
replayed with ``heavylift dlq``, and a Redis restart mid-job costs the job nothing."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from heavylift.cli.api_client import upload_file
from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, JobState
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore
from infra.devstack import REPO_DIR, LocalStack
from infra.processes import HEAVYLIFT_COMMAND
from infra.provision import aws_client
from infra.samples import write_sample, write_video

pytestmark = pytest.mark.integration

LAYOUT = Layout("heavylift")
SOURCES = "heavylift-sources"  # a bucket without notifications: only webhook jobs read it


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("failures"),
        worker_processes=1,
        worker_threads=1,
        s3_via_proxy=True,
    ).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def settings(stack: LocalStack) -> Settings:
    return stack.settings()


@pytest.fixture(scope="module")
def store(stack: LocalStack, settings: Settings) -> JobStore:
    return JobStore(redis.Redis.from_url(stack.redis_url), settings.namespace, 600)


@pytest.fixture(scope="module")
def s3(stack: LocalStack) -> Any:
    return aws_client("s3", stack.moto_url, "us-east-1")  # straight to moto, past the proxy


def submit(stack: LocalStack, key: str) -> str:
    response = httpx.post(
        f"{stack.api_url}/v1/jobs",
        json={"source": {"bucket": SOURCES, "key": key}},
        headers=stack.auth_headers,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def wait_until(store: JobStore, job_id: str, check: Any, timeout: float, what: str) -> JobRecord:
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = store.get(job_id)
        if record is not None and check(record):
            return record
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {timeout}s; last record {record}")


def final(record: JobRecord) -> bool:
    return record.state.is_final


def test_an_s3_outage_is_retried_until_the_job_succeeds_even_across_a_redis_restart(
    stack: LocalStack, store: JobStore, s3: Any, tmp_path: Path
) -> None:
    photo = write_sample(tmp_path / "outage.jpg", 1600, 1200, seed=8)
    s3.upload_file(str(photo), SOURCES, "outage.jpg")
    assert stack.s3_proxy is not None
    stack.s3_proxy.pause()  # S3 is down: connections refused
    try:
        job_id = submit(stack, "outage.jpg")
        wait_until(store, job_id, lambda r: r.errors, 60, "a failed attempt")
        client = redis.Redis.from_url(stack.redis_url)
        assert client.zcard(LAYOUT.scheduled) == 1  # the retry waits in Redis
        stack.restart_redis(hard=True)  # SIGKILL: the waiting retry must survive
        assert client.zcard(LAYOUT.scheduled) + client.llen(LAYOUT.queue("image").waiting) >= 1
    finally:
        stack.s3_proxy.resume()

    record = wait_until(store, job_id, final, 90, "the job to end")
    assert record.state is JobState.SUCCEEDED, record.error
    codes = {error.code for error in record.errors}
    assert codes == {"storage_unavailable"}
    assert record.attempts == len(record.errors) + 1
    assert client.zcard(LAYOUT.queue("image").dead) == 0


def test_a_fixed_job_replayed_from_the_dead_letters_succeeds(
    stack: LocalStack, store: JobStore, s3: Any, tmp_path: Path
) -> None:
    job_id = submit(stack, "arrives-later.jpg")  # not uploaded yet
    record = wait_until(store, job_id, final, 60, "the job to fail")
    assert record.state is JobState.FAILED and record.error and record.error.code == "not_found"
    assert record.attempts == 1  # permanent: never retried

    env = {**stack.child_env(), "COLUMNS": "200"}

    def heavylift(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HEAVYLIFT_COMMAND, "dlq", *args],
            env=env,
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = heavylift("list", "--job", job_id, "--json")
    assert listed.returncode == 0, listed.stderr
    [letter] = json.loads(listed.stdout)
    assert letter["error_code"] == "not_found" and letter["queue"] == "image"

    s3.upload_file(
        str(write_sample(tmp_path / "later.jpg", 800, 600)), SOURCES, "arrives-later.jpg"
    )
    replayed = heavylift("replay", letter["id"])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed 1" in replayed.stdout

    record = wait_until(
        store, job_id, lambda r: r.state is JobState.SUCCEEDED, 60, "the replayed job"
    )
    assert record.replays == 1 and [e.code for e in record.errors] == ["not_found"]
    assert json.loads(heavylift("list", "--json").stdout) == []


def test_a_redis_restart_mid_job_costs_the_job_nothing(
    stack: LocalStack, store: JobStore, settings: Settings, tmp_path: Path
) -> None:
    s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
    video = write_video(tmp_path, "mkv", seconds=12, size="1280x720", name="through-restart")
    job_id = upload_file(s3, settings, video, "through-restart.mkv").job_id
    wait_until(
        store, job_id, lambda r: r.state is JobState.RUNNING and r.progress > 0, 60, "mid-job"
    )
    stack.restart_redis(hard=True, down_for=2.0)

    record = wait_until(store, job_id, final, 120, "the job to end")
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.attempts == 1 and record.errors == []
