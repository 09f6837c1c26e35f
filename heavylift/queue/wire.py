"""Dramatiq's message format, in one place: what a queued message is, as bytes in Redis.

Heavylift writes messages beside Dramatiq (a submission writes its message in the same Lua
script as the job record; retries and replays copy messages) and reads them (dead letters,
the dashboard's view of what each worker holds). All of that goes through this module. It
follows the format of Dramatiq 2 (``dramatiq.Message`` serialised by ``JSONEncoder``; the
version is pinned in requirements.txt, and a unit test checks this module against the
library), and it imports no Dramatiq, so the job core can encode a message without a broker.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

REDIS_ID_OPTION = "redis_message_id"  # the id a message is listed and hashed under in Redis
RETRIES_OPTION = "retries"
DELIVERY_OPTION = "heavylift_delivery"  # which delivery this is (set in memory per delivery)
# Options that describe one delivery, not the message: a retry or a replay starts without them.
DELIVERY_OPTIONS = ("eta", "traceback", "requeue_timestamp", DELIVERY_OPTION)
DELAY_QUEUE_SUFFIX = ".DQ"  # Dramatiq's delay queues; Heavylift parks retries elsewhere

Message = dict[str, Any]  # a decoded message: queue_name, actor_name, args, kwargs, options…


@dataclass(frozen=True)
class EncodedMessage:
    """A message as Dramatiq's Redis broker stores it: the id it is listed under, its JSON."""

    redis_message_id: str
    body: str


def encode(queue: str, actor: str, argument: object) -> EncodedMessage:
    """A new message for ``actor`` on ``queue`` with one argument, as ``enqueue`` stores it."""
    redis_id = str(uuid.uuid4())
    message: Message = {
        "queue_name": queue,
        "actor_name": actor,
        "args": [argument],
        "kwargs": {},
        "options": {REDIS_ID_OPTION: redis_id},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": int(time.time() * 1000),
    }
    return EncodedMessage(redis_id, _dumps(message))


def decode(raw: bytes | str | None) -> Message | None:
    """The message, or None for bytes that are not one (missing, not JSON, not an object)."""
    if raw is None:
        return None
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def queue_of(message: Message) -> str:
    """The queue a message belongs on (never a delay queue)."""
    return str(message.get("queue_name") or "").removesuffix(DELAY_QUEUE_SUFFIX)


def job_id_of(message: Message) -> str | None:
    """The job a message is about: ``args[0].job_id`` of a job message, or the plain job id
    a callback delivery carries."""
    args = message.get("args")  # a list once decoded, a tuple in a live dramatiq.Message
    first = args[0] if isinstance(args, list | tuple) and args else None
    if isinstance(first, dict) and first.get("job_id"):
        return str(first["job_id"])
    return first if isinstance(first, str) else None


def retries_of(message: Message) -> int:
    options = message.get("options")
    try:
        return int((options or {}).get(RETRIES_OPTION) or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def retry_of(message: Message, retries: int) -> EncodedMessage:
    """The next try of ``message``: a new Redis id, ``retries`` counted, no delivery options."""
    retry_id = str(uuid.uuid4())
    options = {**_message_options(message), RETRIES_OPTION: retries, REDIS_ID_OPTION: retry_id}
    return EncodedMessage(retry_id, _dumps({**message, "options": options}))


def replay_of(message: Message, queue: str) -> str:
    """``message`` as a first delivery again (an operator's replay): retries 0, on ``queue``,
    under the Redis id it already has."""
    options = {**_message_options(message), RETRIES_OPTION: 0}
    return _dumps({**message, "options": options, "queue_name": queue})


def _message_options(message: Message) -> dict[str, Any]:
    options = message.get("options") or {}
    return {key: value for key, value in options.items() if key not in DELIVERY_OPTIONS}


def _dumps(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))  # as dramatiq's JSONEncoder
