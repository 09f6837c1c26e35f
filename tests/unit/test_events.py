"""Parsing S3 "object created" payloads: every envelope one upload can arrive in.

A producer that misreads an envelope either drops an upload (nothing is processed) or
invents one (a job for a key that does not exist), so each shape is checked with the
fields AWS and MinIO really send.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from heavylift.errors import InvalidEvent
from heavylift.jobs.models import S3Location
from heavylift.jobs.upload_events import ObjectCreated, object_created_events
from tests.unit.conftest import (
    BUCKET,
    ENVELOPES,
    ETAG,
    VERSION_ID,
    eventbridge,
    minio_webhook,
    notification,
    s3_record,
    s3_test_event,
    sns_envelope,
    sqs_batch,
)


def only(events: list[ObjectCreated]) -> ObjectCreated:
    assert len(events) == 1, events
    return events[0]


def test_direct_notification_yields_every_field() -> None:
    """S3 → Lambda: bucket, decoded key, version, ETag, size and sequencer all survive."""
    event = only(object_created_events(notification(s3_record("photos/cat.jpg", size=4321))))
    assert event.location == S3Location(
        bucket=BUCKET, key="photos/cat.jpg", version_id=VERSION_ID, etag=ETAG
    )
    assert event.size == 4321
    assert event.sequencer == "0055AED6DCD90281E5"
    assert event.envelope == "s3"


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_every_envelope_yields_the_same_upload(name: str) -> None:
    """The same upload reaches us as S3, SQS, SNS, SNS→SQS or EventBridge: one answer."""
    envelope, build = ENVELOPES[name]
    event = only(object_created_events(build("my+photo%2B1.jpg", "my photo+1.jpg")))
    assert event.location == S3Location(
        bucket=BUCKET, key="my photo+1.jpg", version_id=VERSION_ID, etag=ETAG
    )
    assert event.envelope == envelope


def test_sqs_body_is_parsed_from_a_json_string() -> None:
    """SQS delivers the notification as a string; a batch yields one event per record."""
    bodies = [json.dumps(notification(s3_record(f"batch/{i}.jpg"))) for i in range(3)]
    events = object_created_events(sqs_batch(*bodies))
    assert [e.location.key for e in events] == ["batch/0.jpg", "batch/1.jpg", "batch/2.jpg"]
    assert {e.envelope for e in events} == {"sqs"}


def test_eventbridge_keys_are_not_url_decoded() -> None:
    """EventBridge sends raw keys: a literal '+' or '%2F' in a key must stay as it is."""
    event = only(object_created_events(eventbridge("a+b%2Fc.jpg", version_id="v-7")))
    assert event.location.key == "a+b%2Fc.jpg"
    assert event.location.version_id == "v-7"
    assert event.size == 1024


def test_minio_webhook_shape() -> None:
    """MinIO adds top-level EventName/Key and prefixes eventName with 's3:'."""
    event = only(
        object_created_events(minio_webhook("uploads%2Fmy+photo.jpg", "uploads/my photo.jpg"))
    )
    assert event.location == S3Location(bucket=BUCKET, key="uploads/my photo.jpg", etag=ETAG)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("my+photo%2B1.jpg", "my photo+1.jpg"),
        ("photos%2F2024%2Fcat.jpg", "photos/2024/cat.jpg"),
        ("caf%C3%A9.jpg", "café.jpg"),
        ("100%25+real.png", "100% real.png"),
        ("plain.jpg", "plain.jpg"),
    ],
)
def test_notification_keys_are_unquote_plus_decoded(encoded: str, decoded: str) -> None:
    """S3 quote_plus-encodes keys in notifications; the job must read the real object."""
    assert only(object_created_events(notification(s3_record(encoded)))).location.key == decoded


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.6", "2.0", None])
def test_any_event_version_is_accepted(version: str | None) -> None:
    """eventVersion varies with S3 features; rejecting one would silently drop uploads."""
    payload = notification(s3_record("v.jpg", event_version=version))
    assert only(object_created_events(payload)).location.key == "v.jpg"


@pytest.mark.parametrize(
    ("etag", "expected"),
    [('"abc123"', "abc123"), ("abc123", "abc123"), ('"abc-3"', "abc-3"), ("", None), (None, None)],
)
def test_etag_quotes_are_stripped(etag: str | None, expected: str | None) -> None:
    """Quoted (HTTP header style) and bare ETags must compare equal, or dedupe breaks."""
    payload = notification(s3_record("e.jpg", etag=etag))
    assert only(object_created_events(payload)).location.etag == expected


def test_empty_version_id_means_none() -> None:
    """Unversioned buckets (and MinIO) may send an empty versionId."""
    record = s3_record("e.jpg")
    record["s3"]["object"]["versionId"] = ""
    assert only(object_created_events(notification(record))).location.version_id is None


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(s3_test_event(), id="direct"),
        pytest.param(sqs_batch(json.dumps(s3_test_event())), id="in-sqs"),
        pytest.param(
            sqs_batch(json.dumps(sns_envelope(json.dumps(s3_test_event())))), id="in-sns-sqs"
        ),
    ],
)
def test_s3_test_event_is_ignored(payload: Any) -> None:
    """Saving a notification configuration sends a test event: nothing to do, not an error."""
    assert object_created_events(payload) == []


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            notification(s3_record("d.jpg", event_name="ObjectRemoved:Delete", etag=None, size=0)),
            id="delete",
        ),
        pytest.param(
            notification(
                s3_record("d.jpg", event_name="ObjectRemoved:DeleteMarkerCreated", etag=None)
            ),
            id="delete-marker",
        ),
        pytest.param(
            notification(s3_record("d.jpg", event_name="s3:ObjectRemoved:Delete")),
            id="minio-delete",
        ),
        pytest.param(
            notification(s3_record("d.jpg", event_name="ObjectRestore:Completed")), id="restore"
        ),
        pytest.param(eventbridge("d.jpg", detail_type="Object Deleted"), id="eventbridge"),
        pytest.param(notification(), id="no-records"),
    ],
)
def test_non_creation_events_yield_nothing(payload: Any) -> None:
    """Deletions and other notifications must not start jobs."""
    assert object_created_events(payload) == []


def test_mixed_batch_keeps_only_creations() -> None:
    payload = notification(
        s3_record("keep.jpg", event_name="ObjectCreated:CompleteMultipartUpload"),
        s3_record("gone.jpg", event_name="ObjectRemoved:Delete"),
        s3_record("copy.jpg", event_name="ObjectCreated:Copy"),
    )
    assert [e.location.key for e in object_created_events(payload)] == ["keep.jpg", "copy.jpg"]


def _without_bucket() -> dict[str, Any]:
    record = s3_record("x.jpg")
    del record["s3"]["bucket"]
    return notification(record)


def _eventbridge_without_key() -> dict[str, Any]:
    event = eventbridge("x.jpg")
    del event["detail"]["object"]["key"]
    return event


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"hello": "world"}, id="unknown-object"),
        pytest.param([notification(s3_record("x.jpg"))], id="list"),
        pytest.param("not json at all", id="non-json-string"),
        pytest.param({"Records": "nope"}, id="records-not-a-list"),
        pytest.param({"Records": ["nope"]}, id="record-not-an-object"),
        pytest.param(
            {"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {}}]}, id="foreign-record"
        ),
        pytest.param(sqs_batch("this is not JSON"), id="sqs-non-json-body"),
        pytest.param(sqs_batch(""), id="sqs-empty-body"),
        pytest.param(sqs_batch(json.dumps({"unexpected": True})), id="sqs-unknown-body"),
        pytest.param(_without_bucket(), id="record-without-bucket"),
        pytest.param(_eventbridge_without_key(), id="eventbridge-without-key"),
    ],
)
def test_unknown_shapes_raise_invalid_event(payload: Any) -> None:
    """'I do not understand this' must differ from 'nothing to do' (an empty list)."""
    with pytest.raises(InvalidEvent) as info:
        object_created_events(payload)
    assert info.value.code == "invalid_event"
    assert not info.value.transient


def test_folder_placeholders_are_not_uploads() -> None:
    """Console "create folder" writes a zero-byte key ending in '/': no job for it."""
    events = object_created_events(
        notification(s3_record("photos%2F"), s3_record("photos%2Fa.jpg"))
    )
    assert [event.location.key for event in events] == ["photos/a.jpg"]
