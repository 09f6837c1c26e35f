"""``/metrics`` on the running stack: what the workers did shows up in the API's scrape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heavylift.config import Settings
from heavylift.jobs.models import JobState
from infra.devstack import LocalStack
from infra.samples import write_sample
from tests.integration.conftest import upload, wait_for_job

pytestmark = pytest.mark.integration


def scrape(
    api: httpx.Client, stack: LocalStack
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = str(api.base_url.join("/metrics"))
    assert httpx.get(url, timeout=10).status_code == 401  # the scraper's token, or nothing
    response = httpx.get(url, headers=stack.metrics_headers, timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_worker_outcomes_and_live_workers_are_scraped(
    api: httpx.Client, s3: Any, settings: Settings, tmp_path: Path, stack: LocalStack
) -> None:
    image = frozenset({("queue", "image"), ("media_type", "image")})
    before = scrape(api, stack)
    path = write_sample(tmp_path / "metrics.jpg", 1600, 1200, seed=77)
    assert wait_for_job(api, upload(s3, settings, path)).state is JobState.SUCCEEDED

    after = scrape(api, stack)
    succeeded = ("heavylift_jobs_succeeded_total", image)
    assert after[succeeded] == before.get(succeeded, 0) + 1
    source_bytes = ("heavylift_source_bytes_total", image)
    assert after[source_bytes] - before.get(source_bytes, 0) == path.stat().st_size
    durations = ("heavylift_job_duration_seconds_count", image | {("outcome", "succeeded")})
    assert after[durations] == before.get(durations, 0) + 1
    assert after[("heavylift_workers", frozenset())] == 2  # the stack's two worker processes
