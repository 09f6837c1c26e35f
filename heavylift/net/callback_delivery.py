"""Tell a client its job ended: POST the job record, signed with Standard Webhooks headers.

The body is ``{"type": "job.succeeded" | "job.failed" | "job.dead", "timestamp", "data"}``
with ``data`` the public job record (no tracebacks). ``webhook-id`` is stable per job,
outcome and attempt count, so a receiver can drop a redelivery of the same notice, while a
job replayed from the dead letters announces its new outcome under a new id. Only a 2xx
answer counts as delivered; anything else is a transient failure the queue retries with
backoff, and the target URL obeys the same SSRF rules as URL sources.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from heavylift.errors import CallbackRejected
from heavylift.jobs.models import JobRecord, JobState, utcnow
from heavylift.net.safe_http import UrlPolicy, post_json
from heavylift.net.signatures import WebhookSecret, signature_headers

EVENT_TYPES: dict[JobState, Literal["job.succeeded", "job.failed", "job.dead"]] = {
    JobState.SUCCEEDED: "job.succeeded",
    JobState.FAILED: "job.failed",
    JobState.DEAD: "job.dead",
}


class CallbackEvent(BaseModel):
    type: Literal["job.succeeded", "job.failed", "job.dead"]
    timestamp: datetime
    data: dict[str, Any]


# The delivery's own bookkeeping says nothing about the job, and would differ per attempt.
BOOKKEEPING = ("callback_attempts", "callback_delivered_at", "callback_error", "updated_at")


def callback_event(record: JobRecord) -> CallbackEvent:
    data = {k: v for k, v in record.public().items() if k not in BOOKKEEPING}
    return CallbackEvent(type=EVENT_TYPES[record.state], timestamp=utcnow(), data=data)


def message_id(record: JobRecord) -> str:
    return f"msg_{record.job_id}_{record.state.value}_{record.attempts}"


def deliver(record: JobRecord, secret: WebhookSecret, policy: UrlPolicy) -> int:
    """POST the notice once; return the 2xx status or raise a typed error."""
    assert record.callback_url is not None and record.state.is_final
    body = json.dumps(callback_event(record).model_dump(mode="json"), separators=(",", ":"))
    payload = body.encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "heavylift-callbacks",
        **signature_headers(secret, message_id(record), payload),
    }
    status = post_json(record.callback_url, payload, headers, policy)
    if not 200 <= status < 300:
        raise CallbackRejected(f"{record.callback_url} answered {status}")
    return status
