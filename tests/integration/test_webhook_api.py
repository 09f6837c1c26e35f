"""``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` against the running API and workers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from heavylift.config import Settings
from heavylift.jobs.models import JobState, S3Location
from heavylift.state.redis import connect
from heavylift.state.store import JobStore
from infra.devstack import LocalStack
from infra.provision import ensure_bucket
from infra.samples import write_sample
from tests.integration.conftest import read_manifest, wait_for_job

pytestmark = pytest.mark.integration

SOURCES = "heavylift-sources"  # not the uploads bucket: no S3 event races the webhook


@pytest.fixture(scope="module")
def source_key(tmp_path_factory: pytest.TempPathFactory, s3: Any) -> str:
    ensure_bucket(s3, SOURCES)
    path = write_sample(tmp_path_factory.mktemp("webhook") / "generated.jpg", 2000, 1500, seed=5)
    s3.upload_file(str(path), SOURCES, "generated/image.jpg")
    return "generated/image.jpg"


def test_submit_returns_202_at_once_and_the_job_completes(
    api: httpx.Client, s3: Any, settings: Settings, source_key: str
) -> None:
    key = str(uuid.uuid4())
    response = api.post(
        "/v1/jobs",
        json={"source": {"bucket": SOURCES, "key": source_key}},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"/v1/jobs/{body['job_id']}"
    assert body["state"] in ("queued", "running") and body["created"] is True

    record = wait_for_job(api, body["job_id"])
    assert record.state is JobState.SUCCEEDED
    assert record.attempts == 1 and record.started_at and record.finished_at
    assert record.created_at <= record.started_at <= record.finished_at
    assert record.origin.value == "webhook"
    manifest = read_manifest(s3, settings.results_bucket, body["job_id"])
    assert {o.width for o in manifest.outputs if o.width} == {256, 1024}

    again = api.post(
        "/v1/jobs",
        json={"source": {"bucket": SOURCES, "key": source_key}},
        headers={"Idempotency-Key": key},
    )
    assert again.status_code == 202
    assert again.json() == {**body, "state": "succeeded", "created": False}
    assert wait_for_job(api, body["job_id"]).attempts == 1  # not run a second time


def test_requests_without_a_key_are_separate_jobs(api: httpx.Client, source_key: str) -> None:
    payload = {"source": {"bucket": SOURCES, "key": source_key}}
    first, second = (api.post("/v1/jobs", json=payload).json()["job_id"] for _ in range(2))
    assert first != second


def test_reusing_a_key_for_another_source_is_a_conflict(api: httpx.Client, source_key: str) -> None:
    key = str(uuid.uuid4())
    assert (
        api.post(
            "/v1/jobs",
            json={"source": {"bucket": SOURCES, "key": source_key}},
            headers={"Idempotency-Key": key},
        ).status_code
        == 202
    )
    clash = api.post(
        "/v1/jobs",
        json={"source": {"bucket": SOURCES, "key": "other.jpg"}},
        headers={"Idempotency-Key": key},
    )
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"


def test_a_missing_source_fails_with_not_found(api: httpx.Client, settings: Settings) -> None:
    response = api.post("/v1/jobs", json={"source": {"bucket": SOURCES, "key": "nope/missing.jpg"}})
    record = wait_for_job(api, response.json()["job_id"])
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code == "not_found"
    assert "nope/missing.jpg" in record.error.message
    # the traceback is kept for operators but never shown to API clients
    assert [e.traceback for e in record.errors] == [None]
    store = JobStore(connect(settings.redis_url), settings.namespace, 60)
    stored = store.get(record.job_id)
    assert stored is not None and "NotFound" in (stored.errors[0].traceback or "")


def test_minio_style_event_over_http_creates_a_job(
    api: httpx.Client, s3: Any, settings: Settings, tmp_path: Path, stack: LocalStack
) -> None:
    path = write_sample(tmp_path / "minio.png", 800, 600, seed=9)
    s3.upload_file(str(path), SOURCES, "minio/shot 1.png")
    etag = s3.head_object(Bucket=SOURCES, Key="minio/shot 1.png")["ETag"].strip('"')
    event = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{SOURCES}/minio/shot 1.png",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": SOURCES},
                    "object": {
                        "key": "minio%2Fshot+1.png",
                        "size": path.stat().st_size,
                        "eTag": etag,
                        "sequencer": "17F2C0B8F1D1A2B3",
                    },
                },
            }
        ],
    }
    response = api.post("/v1/events/s3", json=event, headers=stack.event_headers)
    assert response.status_code == 202
    [job_id] = response.json()["jobs"]
    record = wait_for_job(api, job_id)
    assert record.state is JobState.SUCCEEDED and isinstance(record.source, S3Location)
    assert record.source.key == "minio/shot 1.png"
