"""Lambda handler for S3 uploads: direct S3 notifications, SQS batches (optionally carrying
SNS envelopes) and EventBridge "Object Created" events.

If the broker is down this raises, so that Lambda retries (or SQS redelivers) the event:
nothing is acknowledged that was not enqueued. A payload of an unknown shape is logged and
dropped, because no retry could make it understandable.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.producer import get_producer
from heavylift.errors import InvalidEvent
from heavylift.events import object_created_events

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    producer = get_producer()
    submitted: list[str] = []
    duplicates: list[str] = []
    invalid = 0
    for part in _per_record(event):
        try:
            uploads = object_created_events(part)
        except InvalidEvent as exc:
            # Only this record is dropped: the rest of an SQS batch is deleted with it when
            # we return, so its valid uploads must still be submitted.
            invalid += 1
            log.error("dropping unrecognised event", extra={"code": exc.code, "error": exc.message})
            continue
        for upload in uploads:
            submission = producer.submit_upload(upload)  # BrokerUnavailable propagates: retry
            (submitted if submission.created else duplicates).append(submission.job_id)
    result: dict[str, Any] = {"submitted": submitted, "duplicates": duplicates}
    if invalid:
        result["invalid"] = invalid
    return result


def _per_record(event: Any) -> list[Any]:
    """Split a batch so that each record is parsed (and can fail) on its own."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records:
        return [{**event, "Records": [record]} for record in records]
    return [event]
