"""Prometheus metrics shared through Redis: producers and workers add, ``/metrics`` renders
counters, a cumulative duration histogram and live queue gauges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from functions.http import app, metrics_app
from heavylift.state.counters import JobOutcome, MetricsRecorder
from tests.unit.test_http import AUTH, METRICS_TOKEN, NAMESPACE, SOURCE, producer_on

SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[TestClient]:
    with producer_on(monkeypatch, tmp_path, redis_url), TestClient(app) as client:
        yield client


def scrape(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_submissions_are_counted_in_the_same_step_that_queues_them(api: TestClient) -> None:
    for _ in range(3):
        assert api.post("/v1/jobs", json={"source": SOURCE}, headers=AUTH).status_code == 202
    api.post("/v1/jobs", json={"source": {**SOURCE, "key": "a.mp3"}}, headers=AUTH)
    samples = scrape(api)
    image = (("media_type", "image"), ("queue", "image"))
    assert samples[("heavylift_jobs_submitted_total", image)] == 3
    assert samples[("heavylift_queue_waiting_jobs", (("queue", "image"),))] == 3
    assert samples[("heavylift_queue_waiting_jobs", (("queue", "audio"),))] == 1
    assert samples[("heavylift_workers", ())] == 0


def test_attempt_outcomes_feed_counters_and_a_cumulative_histogram(
    api: TestClient, redis_client: redis.Redis
) -> None:
    recorder = MetricsRecorder(redis_client, NAMESPACE)
    recorder.attempt(JobOutcome("image", "image", "succeeded", 0.3, bytes_in=1000, bytes_out=250))
    recorder.attempt(JobOutcome("image", "image", "succeeded", 7.0, bytes_in=500, bytes_out=50))
    recorder.attempt(JobOutcome("video", "video", "failed", 2.0, code="corrupt_media"))
    recorder.retried("image")
    recorder.dead_lettered("video", "corrupt_media")
    samples = scrape(api)
    image = (("media_type", "image"), ("queue", "image"))
    assert samples[("heavylift_jobs_succeeded_total", image)] == 2
    assert samples[("heavylift_source_bytes_total", image)] == 1500
    assert samples[("heavylift_output_bytes_total", image)] == 300
    assert samples[("heavylift_jobs_retried_total", image)] == 1
    failed = (("code", "corrupt_media"), ("media_type", "video"), ("queue", "video"))
    assert samples[("heavylift_jobs_failed_total", failed)] == 1
    video = (("media_type", "video"), ("queue", "video"))
    assert samples[("heavylift_jobs_dead_lettered_total", video)] == 1

    labels = (("media_type", "image"), ("outcome", "succeeded"), ("queue", "image"))

    def bucket(le: str) -> float:
        return samples[("heavylift_job_duration_seconds_bucket", (("le", le), *labels))]

    assert (bucket("0.25"), bucket("0.5"), bucket("5.0"), bucket("10.0"), bucket("+Inf")) == (
        0,
        1,
        1,
        2,
        2,
    )
    assert samples[("heavylift_job_duration_seconds_count", labels)] == 2
    assert samples[("heavylift_job_duration_seconds_sum", labels)] == pytest.approx(7.3)


def test_metrics_answer_503_when_redis_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dead_redis_url: str
) -> None:
    with producer_on(monkeypatch, tmp_path, dead_redis_url), TestClient(app) as client:
        response = client.get("/metrics", headers=SCRAPER)
        assert response.status_code == 503
        assert str(dead_redis_url.rsplit(":", 1)[-1].split("/")[0]) not in response.text


# --- who may scrape ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, AUTH],
    ids=["anonymous", "wrong-token", "api-key"],
)
def test_the_public_metrics_need_the_metrics_token(
    api: TestClient, headers: dict[str, str]
) -> None:
    response = api.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "heavylift_" not in response.text


def test_without_a_token_the_public_app_does_not_serve_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    with producer_on(monkeypatch, tmp_path, redis_url):
        monkeypatch.delenv("HEAVYLIFT_METRICS_TOKEN")
        with TestClient(app) as client:
            assert client.get("/metrics", headers=SCRAPER).status_code == 404
        with TestClient(metrics_app) as internal:  # the internal listener needs no token
            assert internal.get("/metrics").status_code == 200
            assert "heavylift_workers" in internal.get("/metrics").text


def test_the_dashboard_history_counts_per_minute(
    api: TestClient, redis_client: redis.Redis
) -> None:
    from heavylift.state.history import last_hour

    api.post("/v1/jobs", json={"source": SOURCE}, headers=AUTH)  # counted by the submit script
    recorder = MetricsRecorder(redis_client, NAMESPACE)
    recorder.attempt(JobOutcome("image", "image", "succeeded", 0.2))
    recorder.attempt(JobOutcome("image", "image", "failed", 0.2, code="storage_unavailable"))
    recorder.dead_lettered("image", "corrupt_media")  # a job lost for good
    now = last_hour(redis_client, NAMESPACE)[-1]
    assert (now.submitted, now.succeeded, now.failed) == (1, 1, 1)  # a retried attempt is not
