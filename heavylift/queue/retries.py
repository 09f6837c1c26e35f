"""Retries that wait in Redis, not in a worker's memory.

Dramatiq parks a retry on a delay queue that a worker fetches and holds in memory until it
is due. Two holes follow (see docs/architecture.md, "Failures"): if the retry cannot be
enqueued because Redis is away, the original is acked and lost; and after a Redis
connection error a worker drops the retries it holds while their ids stay claimed by it.

Here a retry is one atomic step: the failed message leaves its worker's ack set and the
queue's hash, and a copy with one more retry counted enters a sorted set scored by when it
is due. :func:`promote_due`, called every second or so by every worker, moves due retries
onto their queues, also atomically. Nothing is ever held only in a process.
"""

from __future__ import annotations

import random

import redis

from heavylift.queue import wire
from heavylift.queue.recovery import now_ms
from heavylift.state.keys import MESSAGES_SUFFIX, Layout
from heavylift.state.scripts import script


def backoff_ms(retries: int, min_ms: int, max_ms: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with "equal jitter": half fixed, half random.

    The fixed half keeps a retry from coming back at once; the random half spreads the
    retries of many jobs that failed together (an S3 outage) so they don't return together."""
    ceiling = min(max_ms, min_ms * 2 ** min(retries, 32))
    half = ceiling // 2
    return half + (rng or random).randint(0, ceiling - half)


def schedule_retry(
    client: redis.Redis,
    layout: Layout,
    *,
    worker_id: str,
    message: wire.Message,
    retries: int,
    delay_ms: int,
) -> bool:
    """Swap the failed delivery for a retry due in ``delay_ms``, atomically.

    False if this worker no longer held the message (it was presumed dead and the message
    was requeued already): then that requeued copy is the retry."""
    queue = layout.queue(wire.queue_of(message))
    failed_id = message["options"][wire.REDIS_ID_OPTION]
    retry = wire.retry_of(message, retries)
    keys = [queue.acks(worker_id), queue.messages, layout.scheduled, layout.scheduled_messages]
    args = [failed_id, retry.redis_message_id, retry.body, now_ms() + delay_ms]
    return bool(script(client, "schedule_retry")(keys=keys, args=args))


def promote_due(client: redis.Redis, layout: Layout, batch: int = 500) -> int:
    """Move retries that are due onto their queues; return how many moved."""
    promote = script(client, "promote_retries")
    before, after = layout.queue_key_parts
    moved = 0
    while True:
        count = int(
            promote(
                keys=[layout.scheduled, layout.scheduled_messages],
                args=[before, after, MESSAGES_SUFFIX, now_ms(), batch],
            )
        )
        moved += count
        if count < batch:
            return moved
