"""Lambda handler for S3 uploads: direct S3 notifications, SQS batches (optionally carrying
SNS envelopes) and EventBridge "Object Created" events.

The rules of ``POST /v1/events/s3`` hold here too: only uploads in an allowed source bucket
and under the uploads prefix become jobs, an event may carry at most ``max_event_records``
records, and a full queue holds the event back. If the broker is down or the queue is full,
this raises, so that Lambda retries (or SQS redelivers) the event later: nothing is
acknowledged that was not enqueued. A record of an unknown shape or outside the rules is
logged and dropped, because no retry could change the answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from functions.producer import get_producer
from heavylift.errors import BucketNotAllowed, InvalidEvent, KeyNotAllowed, TooManyRecords
from heavylift.jobs.upload_events import object_created_events

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    producer = get_producer()
    submitted: list[str] = []
    duplicates: list[str] = []
    invalid = 0
    refused: Counter[str] = Counter()
    for part in _per_record(event):
        try:
            uploads = object_created_events(part, producer.settings.max_event_records)
        except (InvalidEvent, TooManyRecords) as exc:
            # Only this record is dropped: the rest of an SQS batch is deleted with it when
            # we return, so its valid uploads must still be submitted.
            invalid += 1
            log.error("dropping unrecognised event", extra={"code": exc.code, "error": exc.message})
            continue
        for upload in uploads:
            try:
                # BrokerUnavailable and QueueFull propagate: the event comes back later.
                submission = producer.submit_upload(upload)
            except (BucketNotAllowed, KeyNotAllowed) as exc:
                refused[exc.code] += 1
                log.warning(
                    "upload outside the rules",
                    extra={"code": exc.code, "bucket": upload.location.bucket},
                )
                continue
            (submitted if submission.created else duplicates).append(submission.job_id)
    result: dict[str, Any] = {"submitted": submitted, "duplicates": duplicates}
    if invalid:
        result["invalid"] = invalid
    if refused:
        result["refused"] = dict(refused)
    return result


def _per_record(event: Any) -> list[Any]:
    """Split a batch so that each record is parsed (and can fail) on its own."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records:
        return [{**event, "Records": [record]} for record in records]
    return [event]
