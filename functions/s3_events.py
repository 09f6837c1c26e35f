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
    try:
        uploads = object_created_events(event)
    except InvalidEvent as exc:
        log.error("dropping unrecognised event", extra={"code": exc.code, "error": exc.message})
        return {"submitted": [], "duplicates": [], "error": exc.code}
    submitted, duplicates = [], []
    for upload in uploads:
        if upload.location.key.endswith("/"):
            continue  # a "folder" placeholder, not a file
        submission = producer.submit_upload(upload)  # BrokerUnavailable propagates: retry
        (submitted if submission.created else duplicates).append(submission.job_id)
    return {"submitted": submitted, "duplicates": duplicates}
