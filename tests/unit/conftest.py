"""Unit-test helpers: isolation from the developer's environment, and S3 event payloads.

The payload builders follow the shapes AWS documents (S3 notification records, SQS and SNS
envelopes, EventBridge events) and MinIO's webhook, so the same upload can be fed to the
parser, the job-id function and the producers in every envelope it can arrive in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from heavylift.state.redis import as_text

BUCKET = "heavylift-uploads"
VERSION_ID = "096fKKXTRTtl3on89fVO.nfljtsv6qko"
ETAG = "d41d8cd98f00b204e9800998ecf8427e"


def text(raw: object) -> str:
    """A Redis reply that must be there (not None), as text."""
    assert isinstance(raw, bytes | str), raw
    return as_text(raw)


@pytest.fixture(autouse=True)
def _no_heavylift_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported HEAVYLIFT_* variables must not change what a unit test sees."""
    for name in list(os.environ):
        if name.upper().startswith("HEAVYLIFT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def anonymous(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[TestClient]:
    """A client of the API without credentials (each test sends its own), on a fresh Redis,
    with callbacks enabled."""
    from functions.http import app  # not at import: test_http itself imports this module
    from tests.unit.test_http import producer_on

    monkeypatch.setenv("HEAVYLIFT_CALLBACK_SECRET", "whsec_" + "QUJD" * 8)
    with producer_on(monkeypatch, tmp_path, redis_url), TestClient(app) as client:
        yield client


@pytest.fixture
def full_redis(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The test redis-server at its memory limit: with noeviction it refuses every write."""
    original = str(redis_client.config_get("maxmemory")["maxmemory"])
    redis_client.config_set("maxmemory", 1)
    try:
        yield redis_client
    finally:
        redis_client.config_set("maxmemory", original)


def s3_record(
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    bucket: str = BUCKET,
    version_id: str | None = VERSION_ID,
    etag: str | None = ETAG,
    size: int = 1024,
    event_version: str | None = "2.1",
) -> dict[str, Any]:
    """One ``Records[]`` entry of an S3 event notification; ``key`` is used as given (encoded)."""
    obj: dict[str, Any] = {"key": key, "size": size, "sequencer": "0055AED6DCD90281E5"}
    if etag is not None:
        obj["eTag"] = etag
    if version_id is not None:
        obj["versionId"] = version_id
    record: dict[str, Any] = {
        "eventSource": "aws:s3",
        "awsRegion": "us-west-2",
        "eventTime": "2024-05-01T12:00:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.5"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "heavylift-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }
    if event_version is not None:
        record["eventVersion"] = event_version
    return record


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    """What S3 sends to Lambda directly (and what SQS/SNS carry as a JSON string)."""
    return {"Records": list(records)}


def s3_test_event(bucket: str = BUCKET) -> dict[str, Any]:
    """The message S3 sends when a notification configuration is saved."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-05-01T12:00:00.000Z",
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }


def sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:heavylift-upload-events",
        "awsRegion": "us-west-2",
    }


def sqs_batch(*bodies: str) -> dict[str, Any]:
    return {"Records": [sqs_record(body) for body in bodies]}


def sns_envelope(message: str) -> dict[str, Any]:
    """An SNS notification as SNS delivers it to an SQS queue (raw delivery off)."""
    return {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:heavylift-uploads",
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2024-05-01T12:00:00.123Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQ"
        "vi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3k=",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-"
        "f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        "arn:aws:sns:us-west-2:123456789012:heavylift-uploads:c9135db0",
    }


def sns_lambda(message: str) -> dict[str, Any]:
    """SNS invoking Lambda directly: ``Records[].EventSource == "aws:sns"``."""
    envelope = sns_envelope(message)
    envelope.pop("Type")
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": envelope["UnsubscribeURL"].split("=")[-1],
                "Sns": {"Type": "Notification", **envelope},
            }
        ]
    }


def eventbridge(
    key: str,
    *,
    detail_type: str = "Object Created",
    bucket: str = BUCKET,
    version_id: str | None = VERSION_ID,
    etag: str | None = ETAG,
) -> dict[str, Any]:
    """An EventBridge event from S3; ``key`` is NOT URL-encoded in this shape."""
    obj: dict[str, Any] = {"key": key, "size": 1024, "sequencer": "617f08299329d189"}
    if etag is not None:
        obj["etag"] = etag
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-west-2",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.5",
            "reason": "PutObject",
        },
    }


def minio_webhook(encoded_key: str, raw_key: str, *, bucket: str = BUCKET) -> dict[str, Any]:
    """What a MinIO bucket notification webhook POSTs (Ceph RGW is similar)."""
    record = s3_record(
        encoded_key,
        event_name="s3:ObjectCreated:Put",
        bucket=bucket,
        version_id=None,
        event_version="2.0",
    )
    record["eventSource"] = "minio:s3"
    record["awsRegion"] = ""
    record["userIdentity"] = {"principalId": "minioadmin"}
    record["s3"]["object"]["contentType"] = "image/jpeg"
    record["s3"]["object"]["userMetadata"] = {"content-type": "image/jpeg"}
    record["source"] = {"host": "10.0.0.7", "port": "", "userAgent": "MinIO (linux; amd64)"}
    return {"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{raw_key}", "Records": [record]}


# Every envelope one upload can arrive in: (envelope name reported, payload builder).
# Builders take (encoded key, raw key); S3-notification shapes use the encoded one.
ENVELOPES: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "s3-direct": ("s3", lambda enc, raw: notification(s3_record(enc))),
    "sqs": ("sqs", lambda enc, raw: sqs_batch(json.dumps(notification(s3_record(enc))))),
    "sns-lambda": ("sns", lambda enc, raw: sns_lambda(json.dumps(notification(s3_record(enc))))),
    "sns-sqs": (
        "sns",
        lambda enc, raw: sqs_batch(
            json.dumps(sns_envelope(json.dumps(notification(s3_record(enc)))))
        ),
    ),
    "eventbridge": ("eventbridge", lambda enc, raw: eventbridge(raw)),
    "eventbridge-sqs": ("eventbridge", lambda enc, raw: sqs_batch(json.dumps(eventbridge(raw)))),
}
