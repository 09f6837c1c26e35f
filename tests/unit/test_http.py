"""The producers as clients see them: the Starlette API and the S3-event Lambda handler.

Jobs go through the real producer (real JobStore, Dramatiq's RedisBroker) into a private
redis-server, so "202" is checked to mean "the message is on the queue". With Redis away,
every producer must refuse the work (503 + Retry-After, or raise for a Lambda retry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from functions import s3_events
from functions.http import MAX_BODY_BYTES, app
from functions.producer import get_producer
from heavylift.config import get_settings
from heavylift.errors import BrokerUnavailable
from heavylift.jobs.identity import default_spec, s3_job_id
from heavylift.jobs.models import S3Location
from tests.unit.conftest import (
    BUCKET,
    ETAG,
    VERSION_ID,
    minio_webhook,
    notification,
    s3_record,
    s3_test_event,
    sqs_batch,
)

NAMESPACE = "unit-http"
SOURCE = {"bucket": "uploads", "key": "photos/cat.jpg"}
API_KEY = "hl_test_key"
OTHER_KEY = "hl_test_other_client"  # a second client, who must not see the first one's jobs
EVENT_KEY = "hl_test_events"  # what MinIO would send as its auth_token
OPERATOR_KEY = "hl_test_operator"  # reads the jobs upload events made
METRICS_TOKEN = "hl_test_metrics"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_KEY}"}
EVENTS = {"Authorization": f"Bearer {EVENT_KEY}"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


@contextmanager
def producer_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Iterator[None]:
    """Point the cached settings and producer at ``url``, and forget them afterwards."""
    monkeypatch.chdir(tmp_path)  # no developer .heavylift/dev.env
    monkeypatch.setenv("HEAVYLIFT_REDIS_URL", url)
    monkeypatch.setenv("HEAVYLIFT_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("HEAVYLIFT_REDIS_SOCKET_TIMEOUT_S", "0.5")
    monkeypatch.setenv("HEAVYLIFT_API_KEYS", f"{API_KEY},{OTHER_KEY}")
    monkeypatch.setenv("HEAVYLIFT_EVENT_KEYS", EVENT_KEY)
    monkeypatch.setenv("HEAVYLIFT_OPERATOR_KEYS", OPERATOR_KEY)
    monkeypatch.setenv("HEAVYLIFT_METRICS_TOKEN", METRICS_TOKEN)
    monkeypatch.setenv("HEAVYLIFT_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    monkeypatch.setenv("HEAVYLIFT_SOURCE_BUCKETS", f"uploads,{BUCKET}")
    get_settings.cache_clear()
    get_producer.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
        get_producer.cache_clear()


@pytest.fixture
def producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[None]:
    """Producers (HTTP app and Lambda handler) talking to a live, flushed redis-server."""
    with producer_on(monkeypatch, tmp_path, redis_url):
        yield


@pytest.fixture
def down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dead_redis_url: str) -> Iterator[None]:
    """Producers whose Redis is unreachable."""
    with producer_on(monkeypatch, tmp_path, dead_redis_url):
        yield


@pytest.fixture
def api(producer: None) -> Iterator[TestClient]:
    with TestClient(app, headers=AUTH) as client:
        yield client


@pytest.fixture
def down_api(down: None) -> Iterator[TestClient]:
    with TestClient(app, headers=AUTH) as client:
        yield client


def queued(redis_client: redis.Redis) -> int:
    """How many messages Dramatiq holds on the image queue."""
    return int(redis_client.hlen(f"{NAMESPACE}:image.msgs"))


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """RFC 9457: clients parse one error shape for every failure."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


def expected_s3_job(key: str, version_id: str | None = VERSION_ID) -> str:
    location = S3Location(bucket=BUCKET, key=key, version_id=version_id, etag=ETAG)
    return s3_job_id(location, default_spec(get_settings()))


# --- POST /v1/jobs ----------------------------------------------------------------------


def test_create_job_is_queued_and_readable(api: TestClient, redis_client: redis.Redis) -> None:
    response = api.post("/v1/jobs", json={"source": SOURCE})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] is True and body["state"] == "queued"
    assert response.headers["location"] == f"/v1/jobs/{body['job_id']}"
    assert queued(redis_client) == 1
    record = api.get(response.headers["location"])
    assert record.status_code == 200
    job = record.json()
    assert (job["job_id"], job["state"], job["origin"]) == (body["job_id"], "queued", "webhook")
    assert job["source"] == {**SOURCE, "version_id": None, "etag": None}
    assert job["enqueued_at"] is not None


def test_repeated_key_returns_the_same_job(api: TestClient, redis_client: redis.Redis) -> None:
    """A client retrying after a timeout must not start the work twice. (A signed request's
    ``webhook-id`` does the same: tests/unit/test_http_security.py.)"""
    header = "Idempotency-Key"
    first = api.post("/v1/jobs", json={"source": SOURCE}, headers={header: "msg_2KWPBgLlAfxdpx"})
    second = api.post("/v1/jobs", json={"source": SOURCE}, headers={header: "msg_2KWPBgLlAfxdpx"})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["job_id"] == second.json()["job_id"]
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    assert queued(redis_client) == 1


def test_without_a_key_every_request_is_a_new_job(api: TestClient) -> None:
    ids = {api.post("/v1/jobs", json={"source": SOURCE}).json()["job_id"] for _ in range(3)}
    assert len(ids) == 3


def test_reused_key_with_another_source_is_a_conflict(api: TestClient) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = api.post("/v1/jobs", json={"source": SOURCE}, headers=headers)
    other = {"source": {**SOURCE, "key": "photos/dog.jpg"}}
    body = assert_problem(api.post("/v1/jobs", json=other, headers=headers), 409)
    assert body["code"] == "idempotency_conflict"
    assert body["job_id"] == first.json()["job_id"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(b"{not json", 400, id="invalid-json"),
        pytest.param(b"\xff\xfe\x00garbage", 400, id="not-utf8"),
        pytest.param(b"", 400, id="empty"),
        pytest.param(
            json.dumps({"source": SOURCE, "priority": "high"}).encode(), 422, id="unknown-field"
        ),
        pytest.param(
            json.dumps({"source": {**SOURCE, "acl": "public"}}).encode(),
            422,
            id="unknown-source-field",
        ),
        pytest.param(b"{}", 422, id="missing-source"),
        pytest.param(json.dumps({"source": {"bucket": "uploads"}}).encode(), 422, id="missing-key"),
        pytest.param(b"[]", 422, id="not-an-object"),
    ],
)
def test_bad_requests_are_problems(
    api: TestClient, redis_client: redis.Redis, content: bytes, status: int
) -> None:
    response = api.post("/v1/jobs", content=content, headers={"content-type": "application/json"})
    assert_problem(response, status)
    assert queued(redis_client) == 0


def test_validation_problem_lists_the_fields(api: TestClient) -> None:
    body = assert_problem(api.post("/v1/jobs", json={"source": {"bucket": "uploads"}}), 422)
    assert any(error["loc"][-1] == "key" for error in body["errors"])


def test_oversized_body_is_413(api: TestClient, redis_client: redis.Redis) -> None:
    padding = "x" * MAX_BODY_BYTES
    response = api.post("/v1/jobs", json={"source": {**SOURCE, "key": padding}})
    assert_problem(response, 413)
    assert queued(redis_client) == 0


def test_body_at_the_limit_is_accepted(api: TestClient) -> None:
    body = json.dumps({"source": SOURCE}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    response = api.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text


def test_unknown_job_is_404(api: TestClient) -> None:
    assert_problem(api.get("/v1/jobs/jdoesnotexist"), 404)


# --- POST /v1/events/s3 -----------------------------------------------------------------


def test_s3_event_creates_the_deterministic_job(api: TestClient, redis_client: redis.Redis) -> None:
    """The same upload gets the same job id whichever producer sees it."""
    payload = notification(s3_record("my+photo%2B1.jpg"))
    first = api.post("/v1/events/s3", json=payload, headers=EVENTS)
    assert first.status_code == 202, first.text
    assert first.json()["jobs"] == [expected_s3_job("my photo+1.jpg")]
    second = api.post("/v1/events/s3", json=payload, headers=EVENTS)
    assert second.json() == first.json()
    assert queued(redis_client) == 1
    job = api.get(f"/v1/jobs/{first.json()['jobs'][0]}", headers=OPERATOR).json()
    assert (job["origin"], job["source"]["key"]) == ("s3_event", "my photo+1.jpg")


def test_minio_webhook_is_accepted(api: TestClient) -> None:
    payload = minio_webhook("in%2Fa+b.jpg", "in/a b.jpg")
    response = api.post("/v1/events/s3", json=payload, headers=EVENTS)
    assert response.status_code == 202
    assert response.json()["jobs"] == [expected_s3_job("in/a b.jpg", version_id=None)]


@pytest.mark.parametrize(
    "payload",
    [
        s3_test_event(),
        notification(s3_record("folder/", size=0)),
        notification(s3_record("gone.jpg", event_name="ObjectRemoved:Delete")),
    ],
    ids=["test-event", "folder-marker", "delete"],
)
def test_events_without_work_are_accepted_and_ignored(
    api: TestClient, redis_client: redis.Redis, payload: dict[str, Any]
) -> None:
    response = api.post("/v1/events/s3", json=payload, headers=EVENTS)
    assert (response.status_code, response.json()) == (202, {"jobs": []})
    assert queued(redis_client) == 0


@pytest.mark.parametrize("content", [b'{"hello": "world"}', b"not json"], ids=["shape", "json"])
def test_invalid_event_is_400(api: TestClient, content: bytes) -> None:
    assert_problem(api.post("/v1/events/s3", content=content, headers=EVENTS), 400)


def test_healthz_up(api: TestClient) -> None:
    assert api.get("/healthz").status_code == 200


# --- the Lambda handler -----------------------------------------------------------------


def test_handler_submits_then_reports_duplicates(producer: None, redis_client: redis.Redis) -> None:
    event = sqs_batch(json.dumps(notification(s3_record("a.jpg"), s3_record("b.jpg"))))
    first = s3_events.handler(event, None)
    assert first == {
        "submitted": [expected_s3_job("a.jpg"), expected_s3_job("b.jpg")],
        "duplicates": [],
    }
    assert s3_events.handler(event, None) == {"submitted": [], "duplicates": first["submitted"]}
    assert queued(redis_client) == 2


def test_one_poison_message_does_not_drop_its_batch(producer: None) -> None:
    """SQS deletes the whole batch when the handler returns: valid uploads must be submitted."""
    event = sqs_batch("this body is not JSON", json.dumps(notification(s3_record("ok.jpg"))))
    result = s3_events.handler(event, None)
    assert expected_s3_job("ok.jpg") in result["submitted"]


# --- Redis away -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [("/v1/jobs", {"source": SOURCE}), ("/v1/events/s3", notification(s3_record("a.jpg")))],
)
def test_producers_answer_503_when_redis_is_down(
    down_api: TestClient, path: str, payload: dict[str, Any]
) -> None:
    """The client (or MinIO) must retry later; a 202 here would lose the upload."""
    response = down_api.post(path, json=payload, headers=EVENTS if "events" in path else AUTH)
    body = assert_problem(response, 503)
    assert body["code"] == "broker_unavailable"
    assert int(response.headers["retry-after"]) > 0


def test_full_redis_answers_503(api: TestClient, full_redis: redis.Redis) -> None:
    """A full Redis refuses writes (noeviction): the client must be told to retry, not 500."""
    response = api.post("/v1/jobs", json={"source": SOURCE})
    assert_problem(response, 503)
    assert "retry-after" in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/v1/jobs/jsomejob"])
def test_reads_answer_503_when_redis_is_down(down_api: TestClient, path: str) -> None:
    """A load balancer must take the producer out; a reader must not see a false 404."""
    assert_problem(down_api.get(path), 503)


def test_a_503_names_no_host_or_port(
    down_api: TestClient, dead_redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Anyone may call /healthz: where Redis lives is for the log, not for them."""
    port = dead_redis_url.rsplit(":", 1)[-1].split("/")[0]
    for response in (down_api.get("/healthz"), down_api.post("/v1/jobs", json={"source": SOURCE})):
        body = assert_problem(response, 503)
        assert port not in response.text and "127.0.0.1" not in response.text
        assert body["detail"] == "the job queue is unavailable; try again shortly"
    assert port in capfd.readouterr().err  # the operator's log has it


def test_handler_raises_when_redis_is_down(down: None) -> None:
    """Raising makes Lambda retry (or SQS redeliver) instead of acknowledging lost work."""
    with pytest.raises(BrokerUnavailable):
        s3_events.handler(notification(s3_record("a.jpg")), None)
