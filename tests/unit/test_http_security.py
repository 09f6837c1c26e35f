"""The API as an internet-facing service: closed without credentials, signed requests
(Standard Webhooks, checked with the official package), sources limited to allowed buckets
and public URLs, output options within bounds, callbacks only when enabled, 429 when full."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from functions.http import app
from heavylift.config import get_settings
from tests.unit.test_http import (
    API_KEY,
    AUTH,
    NAMESPACE,
    SOURCE,
    WEBHOOK_SECRET,
    assert_problem,
    producer_on,
    queued,
)


def signed(body: dict[str, Any], msg_id: str = "msg_1", when: datetime | None = None) -> dict:
    """Headers the official ``standardwebhooks`` package makes for ``body``."""
    payload = json.dumps(body)
    when = when or datetime.now(UTC)
    signature = Webhook(WEBHOOK_SECRET).sign(msg_id, when, payload)
    return {
        "content": payload,
        "headers": {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature,
        },
    }


def job(source: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"source": source or SOURCE, **fields}


# --- who may call ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-key"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, id="wrong-scheme"),
    ],
)
def test_requests_without_valid_credentials_are_401(
    anonymous: TestClient, redis_client: redis.Redis, headers: dict[str, str]
) -> None:
    body = assert_problem(anonymous.post("/v1/jobs", json=job(), headers=headers), 401)
    assert body["code"] == "unauthorized"
    assert_problem(anonymous.get("/v1/jobs/j1", headers=headers), 401)
    assert_problem(anonymous.post("/v1/events/s3", json={"Records": []}, headers=headers), 401)
    assert queued(redis_client) == 0


def test_health_and_the_api_description_stay_open(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    document = anonymous.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/events/s3", "/healthz"} <= set(document["paths"])
    assert {"JobRequest", "JobRecord", "Problem"} <= set(document["components"]["schemas"])


def test_a_request_signed_with_the_official_package_is_accepted(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    response = anonymous.post("/v1/jobs", **signed(job()))
    assert response.status_code == 202, response.text
    assert queued(redis_client) == 1


def test_a_replayed_webhook_id_is_the_same_job(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    first = anonymous.post("/v1/jobs", **signed(job(), msg_id="msg_replay"))
    again = anonymous.post("/v1/jobs", **signed(job(), msg_id="msg_replay"))
    assert first.json()["job_id"] == again.json()["job_id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert queued(redis_client) == 1


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "stale", "future"])
def test_tampered_or_stale_signatures_are_401(
    anonymous: TestClient, redis_client: redis.Redis, tamper: str
) -> None:
    when = datetime.now(UTC)
    if tamper == "stale":
        when = datetime.fromtimestamp(time.time() - 301, UTC)
    if tamper == "future":
        when = datetime.fromtimestamp(time.time() + 301, UTC)
    request = signed(job(), when=when)
    if tamper == "body":
        request["content"] = request["content"].replace("cat", "dog")
    if tamper == "id":
        request["headers"]["webhook-id"] = "msg_other"
    if tamper == "timestamp":
        request["headers"]["webhook-timestamp"] = str(int(when.timestamp()) + 1)
    assert_problem(anonymous.post("/v1/jobs", **request), 401)
    assert queued(redis_client) == 0


# --- what may be asked ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            job({"bucket": "someone-elses", "key": "a.jpg"}),
            "bucket_not_allowed",
            id="other-bucket",
        ),
        pytest.param(
            job({"url": "https://169.254.169.254/latest/meta-data/"}),
            "url_refused",
            id="metadata-url",
        ),
        pytest.param(job({"url": "https://127.0.0.1/a.jpg"}), "url_refused", id="loopback-url"),
        pytest.param(job({"url": "http://example.com/a.jpg"}), "url_refused", id="plain-http"),
        pytest.param(
            job({"url": "https://example.com:8443/a.jpg"}), "url_refused", id="other-port"
        ),
        pytest.param(
            job(callback_url="https://10.0.0.7/hook"), "url_refused", id="private-callback"
        ),
        pytest.param(job(outputs={"widths": [99999]}), "invalid_outputs", id="too-wide"),
        pytest.param(job(outputs={"format": "bmp"}), "invalid_request", id="unknown-format"),
        pytest.param(job(outputs={"quality": 0}), "invalid_outputs", id="quality-0"),
        pytest.param(
            job(outputs={"widths": list(range(100, 1100, 100))}),
            "invalid_outputs",
            id="too-many-widths",
        ),
        pytest.param(job({"url": "ftp://example.com/a.jpg"}), "invalid_request", id="ftp"),
    ],
)
def test_requests_outside_policy_are_422(
    anonymous: TestClient, redis_client: redis.Redis, body: dict[str, Any], code: str
) -> None:
    problem = assert_problem(anonymous.post("/v1/jobs", json=body, headers=AUTH), 422)
    assert problem["code"] == code, problem
    assert queued(redis_client) == 0


def test_a_public_url_source_with_options_and_a_callback_is_accepted(
    anonymous: TestClient,
) -> None:
    body = job(
        {"url": "https://images.example.com/cat.png"},
        outputs={"widths": [320, 640], "format": "avif", "quality": 60},
        callback_url="https://hooks.example.com/heavylift",
    )
    response = anonymous.post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    record = anonymous.get(response.headers["location"], headers=AUTH).json()
    assert record["source"] == {"url": "https://images.example.com/cat.png"}
    assert record["callback_url"] == "https://hooks.example.com/heavylift"
    [thumbnails] = [step for step in record["spec"]["image"] if step["kind"] == "thumbnail"]
    assert (thumbnails["widths"], thumbnails["format"], thumbnails["quality"]) == (
        [320, 640],
        "avif",
        60,
    )


def test_callbacks_are_refused_when_not_enabled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    with producer_on(monkeypatch, tmp_path, redis_url), TestClient(app, headers=AUTH) as api:
        body = job(callback_url="https://hooks.example.com/heavylift")
        problem = assert_problem(api.post("/v1/jobs", json=body), 422)
        assert problem["code"] == "callbacks_disabled"


# --- backpressure -----------------------------------------------------------------------------


def test_a_full_queue_answers_429_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    monkeypatch.setenv("HEAVYLIFT_MAX_QUEUE_DEPTH", "3")
    with producer_on(monkeypatch, tmp_path, redis_url), TestClient(app, headers=AUTH) as api:
        assert get_settings().max_queue_depth == 3
        accepted = [api.post("/v1/jobs", json=job()).status_code for _ in range(3)]
        assert accepted == [202, 202, 202]
        response = api.post("/v1/jobs", json=job())
        problem = assert_problem(response, 429)
        assert problem["code"] == "queue_full" and int(response.headers["Retry-After"]) > 0
        assert queued(redis_client) == 3
        # Other queues are not held back by the image backlog.
        audio = api.post("/v1/jobs", json=job({**SOURCE, "key": "talk.mp3"}))
        assert audio.status_code == 202
        assert redis_client.hlen(f"{NAMESPACE}:audio.msgs") == 1
