"""Redis restarts mid-run and nothing is lost: producers answer 503 + Retry-After while it is
away and 202 again by themselves when it is back; every queued, scheduled and dead-lettered
message survives even a SIGKILL (AOF, everysec: written before the reply), and the queued
jobs then run to completion."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
import redis

from heavylift.jobs.models import JobState
from heavylift.state.keys import Layout
from infra.devstack import LocalStack
from infra.provision import aws_client
from infra.samples import write_sample

pytestmark = pytest.mark.integration

LAYOUT = Layout("heavylift")
JOBS = 5


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of its own (Redis goes down here), API only: no workers until a test says."""
    stack = LocalStack(
        tmp_path / "stack", worker_processes=1, worker_threads=2, workers=False, sqs_poller=False
    ).start()
    supervisor = threading.Thread(target=stack.supervise, daemon=True)
    supervisor.start()
    yield stack
    stack.stop()
    supervisor.join(5)


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15, headers=stack.auth_headers) as client:
        yield client


def post_job(api: httpx.Client, key: str, source_key: str = "missing.jpg") -> httpx.Response:
    body = {"source": {"bucket": "heavylift-uploads", "key": source_key}}
    return api.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})


def post_until_accepted(api: httpx.Client, key: str, timeout: float = 20) -> httpx.Response:
    """What a client does after a 503: come back later (here: sooner than Retry-After)."""
    deadline = time.monotonic() + timeout
    while True:
        response = post_job(api, key)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_producers_answer_503_while_redis_is_down_and_recover_by_themselves(
    stack: LocalStack, api: httpx.Client
) -> None:
    api_pid = stack.services["api"].pid
    assert post_job(api, "before").status_code == 202

    stack.stop_redis()
    try:
        down = post_job(api, "during")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0
        assert down.json()["code"] == "broker_unavailable"
        assert api.get("/v1/jobs/anything").status_code == 503  # reads too: never a 500
    finally:
        stack.resume_redis()

    first = post_job(api, "during")  # the same request, sent again once Redis is back
    accepted = first if first.status_code == 202 else post_until_accepted(api, "during")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["created"] is True  # the 503 left nothing half-made behind
    assert post_job(api, "after").status_code == 202
    assert stack.services["api"].pid == api_pid and stack.services["api"].restarts == 0
    assert first.status_code == 202, "the first request after Redis came back failed"


def snapshot(client: redis.Redis) -> dict[str, Any]:
    """Every key of the namespace with its full contents (lists, hashes, sorted sets, strings)."""
    readers: dict[str, Any] = {
        "list": lambda k: client.lrange(k, 0, -1),
        "hash": client.hgetall,
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "string": client.get,
        "set": client.smembers,
    }
    found = {}
    for key in client.scan_iter(match="heavylift:*", count=1000):
        kind = client.type(key)
        name = kind.decode() if isinstance(kind, bytes) else kind
        found[key] = (name, readers[name](key))
    return found


def dead_letter(client: redis.Redis, queue: str, message: dramatiq.Message[Any]) -> None:
    """What Dramatiq's dispatch.lua ``nack`` leaves behind."""
    keys = LAYOUT.queue(queue)
    client.zadd(keys.dead, {message.message_id: int(time.time() * 1000)})
    client.hset(keys.dead_messages, message.message_id, message.encode())


def schedule(client: redis.Redis, message: dramatiq.Message[Any], due_in_s: float) -> None:
    """A retry waiting for its time (due long after this test, so nothing moves it)."""
    due = int((time.time() + due_in_s) * 1000)
    client.zadd(LAYOUT.scheduled, {message.message_id: due})
    client.hset(LAYOUT.scheduled_messages, message.message_id, message.encode())


def bogus(queue: str, actor: str, job_id: str) -> dramatiq.Message[Any]:
    return dramatiq.Message(
        queue_name=queue, actor_name=actor, args=({"job_id": job_id},), kwargs={}, options={}
    )


def test_a_killed_redis_loses_no_queued_scheduled_or_dead_lettered_message(
    stack: LocalStack, api: httpx.Client, tmp_path: Path
) -> None:
    s3 = aws_client("s3", stack.moto_url, "us-east-1")
    job_ids = []
    for i in range(JOBS):
        path = write_sample(tmp_path / f"in-{i}.jpg", 320, 240, seed=70 + i)
        s3.put_object(Bucket="heavylift-uploads", Key=path.name, Body=path.read_bytes())
        response = post_job(api, f"restart-{i}", path.name)
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])

    client = redis.Redis.from_url(stack.redis_url)
    dead_letter(client, "image", bogus("image", "process_image", "jdeadletter"))
    schedule(client, bogus("image", "process_image", "jscheduled"), due_in_s=3600)
    queue = LAYOUT.queue("image")
    assert client.llen(queue.waiting) == JOBS and client.hlen(queue.messages) == JOBS
    before = snapshot(client)

    stack.restart_redis(hard=True)  # SIGKILL: no shutdown save, only what the AOF has

    after = snapshot(client)
    assert set(after) == set(before), f"keys lost: {set(before) - set(after)}"
    assert after == before
    assert client.zcard(queue.dead) == 1 and client.zcard(LAYOUT.scheduled) == 1
    assert stack.redis_restarts == 1 and stack.services["redis"].restarts == 0

    stack.start_worker()
    states = wait_for_final(api, job_ids, timeout=120)
    assert states == dict.fromkeys(job_ids, JobState.SUCCEEDED.value), states
    for job_id in job_ids:
        manifest = s3.get_object(Bucket="heavylift-results", Key=f"{job_id}/manifest.json")
        assert json.loads(manifest["Body"].read())["job_id"] == job_id


def wait_for_final(api: httpx.Client, job_ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {job_id: api.get(f"/v1/jobs/{job_id}").json()["state"] for job_id in job_ids}
        if all(JobState(state).is_final for state in states.values()):
            break
        time.sleep(0.2)
    return states
