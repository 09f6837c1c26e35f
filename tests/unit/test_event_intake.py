"""Upload events obey the rules webhook jobs obey, on both producers that take them.

``POST /v1/events/s3`` (MinIO, Ceph) and the Lambda S3 handler accept only uploads in an
allowed source bucket under the uploads prefix, refuse more records than a request may
carry, and hold back when the queue is full. Malformed events (bucket names outside S3's
3–63 characters, keys over 1,024 characters, JSON nested beyond reason) are the sender's
mistake: 400, or a dropped record in Lambda, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from functions import s3_events
from functions.http import app
from heavylift.errors import QueueFull
from tests.unit.conftest import BUCKET, notification, s3_record, sqs_batch
from tests.unit.test_http import AUTH, EVENTS, assert_problem, producer_on, queued

DEEP = 100_000


@pytest.fixture
def lambda_producer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[None]:
    """Producers with an uploads prefix and at most 5 records per event."""
    monkeypatch.setenv("HEAVYLIFT_UPLOADS_PREFIX", "incoming/")
    monkeypatch.setenv("HEAVYLIFT_MAX_EVENT_RECORDS", "5")
    with producer_on(monkeypatch, tmp_path, redis_url):
        yield


@pytest.fixture
def events(lambda_producer: None) -> Iterator[TestClient]:
    """The API under the same rules, posting as MinIO would (an event key)."""
    with TestClient(app, headers=EVENTS) as api:
        yield api


def records(count: int, bucket: str = BUCKET) -> dict[str, Any]:
    return notification(*(s3_record(f"incoming/{n}.jpg", bucket=bucket) for n in range(count)))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- the HTTP intake ------------------------------------------------------------------------


def test_an_allowed_upload_is_accepted(events: TestClient, redis_client: redis.Redis) -> None:
    response = events.post("/v1/events/s3", json=records(1))
    assert response.status_code == 202, response.text
    assert queued(redis_client) == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        pytest.param(records(1, bucket="someone-elses"), "bucket_not_allowed", id="other-bucket"),
        pytest.param(notification(s3_record("elsewhere/a.jpg")), "key_not_allowed", id="prefix"),
        pytest.param(records(6), "too_many_records", id="too-many"),
        pytest.param(
            notification(s3_record("incoming/ok.jpg"), s3_record("x.jpg", bucket="other-one")),
            "bucket_not_allowed",
            id="one-bad-record",
        ),
    ],
)
def test_uploads_outside_the_rules_are_422_and_queue_nothing(
    events: TestClient, redis_client: redis.Redis, payload: dict[str, Any], code: str
) -> None:
    problem = assert_problem(events.post("/v1/events/s3", json=payload), 422)
    assert problem["code"] == code
    assert queued(redis_client) == 0


def test_a_full_queue_answers_429_to_events_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """One request cannot push the queue past its depth: the review queued 1,500 jobs so."""
    monkeypatch.setenv("HEAVYLIFT_MAX_QUEUE_DEPTH", "3")
    monkeypatch.setenv("HEAVYLIFT_MAX_EVENT_RECORDS", "10")
    with producer_on(monkeypatch, tmp_path, redis_url), TestClient(app, headers=EVENTS) as api:
        payload = notification(*(s3_record(f"{n}.jpg") for n in range(5)))
        response = api.post("/v1/events/s3", json=payload)
        problem = assert_problem(response, 429)
        assert problem["code"] == "queue_full" and int(response.headers["Retry-After"]) > 0
        assert queued(redis_client) == 3
        # Sent again later, the accepted ones are the same jobs: nothing is counted twice.
        redis_client.delete("unit-http:image", "unit-http:image.msgs")
        again = api.post("/v1/events/s3", json=payload)
        assert again.status_code == 202 and len(again.json()["jobs"]) == 5
        assert queued(redis_client) == 2


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(s3_record("incoming/a.jpg", bucket="ab"), id="bucket-2-chars"),
        pytest.param(s3_record("incoming/a.jpg", bucket="b" * 64), id="bucket-64-chars"),
        pytest.param(s3_record("incoming/" + "k" * 1100), id="key-over-1024"),
    ],
)
def test_malformed_records_are_400_not_500(
    events: TestClient, redis_client: redis.Redis, record: dict[str, Any]
) -> None:
    problem = assert_problem(events.post("/v1/events/s3", json=notification(record)), 400)
    assert problem["code"] == "invalid_event"
    assert queued(redis_client) == 0


@pytest.mark.parametrize(
    ("path", "headers"), [("/v1/events/s3", EVENTS), ("/v1/jobs", AUTH)], ids=["events", "jobs"]
)
def test_deeply_nested_json_is_400_not_500(
    events: TestClient, path: str, headers: dict[str, str]
) -> None:
    response = events.post(path, content=nested(DEEP), headers=headers)
    assert assert_problem(response, 400)["code"] == "invalid_json"


def test_envelopes_nested_past_any_real_shape_are_400(events: TestClient) -> None:
    """SQS → SNS → S3 is three levels; a payload nesting SNS messages ten deep is junk."""
    inner: Any = notification(s3_record("incoming/a.jpg"))
    for _ in range(10):
        inner = {"Type": "Notification", "Message": json.dumps(inner)}
    body = assert_problem(events.post("/v1/events/s3", json=inner), 400)
    assert body["code"] == "invalid_event"


# --- the Lambda handler ---------------------------------------------------------------------


def test_lambda_drops_uploads_outside_the_rules(
    lambda_producer: None, redis_client: redis.Redis
) -> None:
    event = sqs_batch(
        json.dumps(records(1, bucket="someone-elses")),
        json.dumps(notification(s3_record("elsewhere/a.jpg"))),
        json.dumps(records(6)),
        json.dumps(records(1)),
    )
    result = s3_events.handler(event, None)
    assert len(result["submitted"]) == 1
    assert result["refused"] == {"bucket_not_allowed": 1, "key_not_allowed": 1}
    assert result["invalid"] == 1  # the six-record body: more than one event may carry
    assert queued(redis_client) == 1


def test_lambda_drops_malformed_records_without_raising(
    lambda_producer: None, redis_client: redis.Redis
) -> None:
    event = sqs_batch(
        json.dumps(notification(s3_record("incoming/a.jpg", bucket="ab"))),
        json.dumps(notification(s3_record("incoming/" + "k" * 1100))),
        nested(DEEP),
        json.dumps(records(1)),
    )
    result = s3_events.handler(event, None)
    assert (len(result["submitted"]), result["invalid"]) == (1, 3)


def test_lambda_holds_back_when_the_queue_is_full(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """Raising makes Lambda (or SQS) deliver the event again later, when there is room."""
    monkeypatch.setenv("HEAVYLIFT_MAX_QUEUE_DEPTH", "2")
    with producer_on(monkeypatch, tmp_path, redis_url):
        s3_events.handler(notification(s3_record("a.jpg"), s3_record("b.jpg")), None)
        with pytest.raises(QueueFull):
            s3_events.handler(notification(s3_record("c.jpg")), None)
        assert queued(redis_client) == 2
