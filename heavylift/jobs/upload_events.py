"""Typed views over the S3 "object created" payloads Heavylift accepts.

One upload can reach a producer in several envelopes: an S3 notification invoking Lambda
directly, the same notification inside SQS records (possibly inside an SNS envelope), an
EventBridge "Object Created" event, or MinIO/Ceph's webhook (an S3 notification with a couple
of extra top-level fields). :func:`object_created_events` unwraps all of them into
:class:`ObjectCreated` values. Keys in S3 notifications are ``quote_plus``-encoded and are
decoded here; ``eventVersion`` is not checked because it varies (2.1 … 2.6) by feature.

Payloads come from the internet (``POST /v1/events/s3``), so every malformed shape, however
odd, is an :class:`InvalidEvent` (a 400), never an unexpected exception (a 500).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heavylift.errors import InvalidEvent, TooManyRecords
from heavylift.jobs.models import S3Location

ModelT = TypeVar("ModelT", bound=BaseModel)

# SQS → SNS → S3 notification is the deepest real nesting of envelopes.
MAX_ENVELOPE_DEPTH = 4


class ObjectCreated(BaseModel):
    """One new object version, whatever envelope it arrived in."""

    model_config = ConfigDict(frozen=True)

    location: S3Location
    size: int | None = None
    sequencer: str | None = None
    envelope: str = Field(description="s3, sqs, sns, eventbridge: how it arrived")


class _S3Bucket(BaseModel):
    name: str


class _S3Object(BaseModel):
    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class _S3Entity(BaseModel):
    bucket: _S3Bucket
    object: _S3Object


class S3NotificationRecord(BaseModel):
    """A record of an S3 event notification (``Records[*]`` with ``eventSource: aws:s3``)."""

    eventName: str
    s3: _S3Entity

    @property
    def is_object_created(self) -> bool:
        # AWS writes "ObjectCreated:Put"; MinIO and Ceph write "s3:ObjectCreated:Put".
        return self.eventName.removeprefix("s3:").startswith("ObjectCreated:")

    def to_event(self, envelope: str) -> ObjectCreated:
        obj = self.s3.object
        return ObjectCreated(
            location=_location(
                bucket=self.s3.bucket.name,
                key=unquote_plus(obj.key),
                version_id=obj.versionId or None,
                etag=normalize_etag(obj.eTag),
            ),
            size=obj.size,
            sequencer=obj.sequencer,
            envelope=envelope,
        )


class _EventBridgeObject(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(None, alias="version-id")
    sequencer: str | None = None


class _EventBridgeDetail(BaseModel):
    bucket: _S3Bucket
    object: _EventBridgeObject


class EventBridgeObjectCreated(BaseModel):
    """An EventBridge event with ``source: aws.s3`` and ``detail-type: Object Created``.

    EventBridge keys are not URL-encoded, unlike those of S3 notifications.
    """

    detail: _EventBridgeDetail

    def to_event(self) -> ObjectCreated:
        obj = self.detail.object
        return ObjectCreated(
            location=_location(
                bucket=self.detail.bucket.name,
                key=obj.key,
                version_id=obj.version_id or None,
                etag=normalize_etag(obj.etag),
            ),
            size=obj.size,
            sequencer=obj.sequencer,
            envelope="eventbridge",
        )


def normalize_etag(etag: str | None) -> str | None:
    """S3 quotes ETags in headers but not in events; store them bare so both compare equal."""
    if not etag:
        return None
    return etag.strip().strip('"') or None


def object_created_events(payload: Any, max_records: int | None = None) -> list[ObjectCreated]:
    """Every object-created event inside ``payload``; test events, deletions and "folder"
    placeholders (keys ending in ``/``) are dropped.

    Raises :class:`InvalidEvent` for a payload that is none of the known shapes, so that a
    caller can tell "nothing to do" from "I do not understand this", and
    :class:`TooManyRecords` when it carries more than ``max_records`` records.
    """
    events = []
    for event in _walk(payload, envelope="s3", depth=0):
        if event.location.key.endswith("/"):
            continue
        events.append(event)
        if max_records is not None and len(events) > max_records:
            raise TooManyRecords(f"at most {max_records} records per request")
    return events


def _walk(payload: Any, envelope: str, depth: int) -> Iterator[ObjectCreated]:
    if depth > MAX_ENVELOPE_DEPTH:
        raise InvalidEvent("envelopes nested deeper than any S3 notification")
    if isinstance(payload, str):
        yield from _walk(_loads(payload), envelope, depth + 1)
        return
    if not isinstance(payload, Mapping):
        raise InvalidEvent(f"expected a JSON object, got {type(payload).__name__}")
    if payload.get("Event") == "s3:TestEvent":
        return  # S3 sends one when a notification configuration is saved
    if payload.get("source") == "aws.s3" and "detail-type" in payload:
        if payload["detail-type"] == "Object Created":
            yield _parse(EventBridgeObjectCreated, payload).to_event()
        return
    if payload.get("Type") == "Notification" and "Message" in payload:
        yield from _walk(payload["Message"], "sns", depth + 1)  # SNS envelope through SQS
        return
    records = payload.get("Records")
    if not isinstance(records, list):
        raise InvalidEvent("no Records, and not an EventBridge or test event")
    for record in records:
        yield from _walk_record(record, envelope, depth)


def _walk_record(record: Any, envelope: str, depth: int) -> Iterator[ObjectCreated]:
    if not isinstance(record, Mapping):
        raise InvalidEvent("a record is not a JSON object")
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:sqs":
        yield from _walk(record.get("body", ""), "sqs", depth + 1)
    elif source == "aws:sns":
        sns = record.get("Sns")
        yield from _walk(
            sns.get("Message", "") if isinstance(sns, Mapping) else "", "sns", depth + 1
        )
    elif "s3" in record:
        s3_record = _parse(S3NotificationRecord, record)
        if s3_record.is_object_created:
            yield s3_record.to_event(envelope)
    else:
        raise InvalidEvent(f"unknown record source {source!r}")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEvent("body nests JSON too deeply") from exc


def _location(**fields: Any) -> S3Location:
    """S3's own limits (bucket 3–63 characters, key at most 1,024) hold for events too."""
    try:
        return S3Location(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidEvent(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from exc


def _parse(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"malformed {model.__name__}: {exc.errors()[0]['msg']}") from exc
