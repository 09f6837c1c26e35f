"""The real stack for integration tests: redis-server, moto's server, the SQS poller,
the API under uvicorn and two Dramatiq worker processes, all started on free ports."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, Manifest
from infra.devstack import LocalStack
from infra.provision import aws_client


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("stack"), worker_processes=2, worker_threads=2)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def settings(stack: LocalStack) -> Settings:
    """Settings pointing at the test stack (never at a developer's .heavylift/dev.env)."""
    return stack.settings()


@pytest.fixture(scope="session")
def s3(stack: LocalStack) -> Any:
    return aws_client("s3", stack.s3_endpoint_url, "us-east-1")


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=10, headers=stack.auth_headers) as client:
        yield client


def url_source_stack(state_dir: Path, site_port: int) -> LocalStack:
    """A stack whose workers may fetch URL sources from a test site on loopback.

    Loopback is refused by the SSRF rules; this deployment exempts exactly that address and
    the site's port, the way an operator would allow an internal image host."""
    return LocalStack(
        state_dir,
        worker_processes=1,
        worker_threads=2,
        extra_env={
            "HEAVYLIFT_URL_SCHEMES": "http,https",
            "HEAVYLIFT_URL_PORTS": f"443,{site_port}",
            "HEAVYLIFT_URL_ALLOWED_NETWORKS": "127.0.0.1/32",
        },
    ).start()


def wait_for_job(api: httpx.Client, job_id: str, timeout: float = 60) -> JobRecord:
    """Poll ``GET /v1/jobs/{id}`` until the job is final."""
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        response = api.get(f"/v1/jobs/{job_id}")
        if response.status_code == 200:
            record = JobRecord.model_validate(response.json())
            if record.state.is_final:
                return record
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not final after {timeout}s: {record}")


def read_manifest(s3: Any, bucket: str, job_id: str) -> Manifest:
    body = s3.get_object(Bucket=bucket, Key=f"{job_id}/manifest.json")["Body"].read()
    return Manifest.model_validate(json.loads(body))


def upload(s3: Any, settings: Settings, path: Path, key: str | None = None) -> str:
    """Upload like a user would, and return the job id the S3 event will map to."""
    from heavylift.cli.api_client import upload_file

    return upload_file(s3, settings, path, key or path.name).job_id
