"""What the queues hold right now, read from Dramatiq's own keys and Heavylift's: for
``/metrics`` (gauges an autoscaler can use) and the dashboard's overview (what each worker is
working on). Nothing is cached, so the answer is right after any restart; every read is a
handful of round trips plus SCANs of the ack sets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import redis

from heavylift.queue import wire
from heavylift.queue.recovery import now_ms
from heavylift.state.keys import Layout
from heavylift.state.redis import as_text


@dataclass(frozen=True)
class QueueGauges:
    waiting: dict[str, int]
    in_flight: dict[str, int]
    dead: dict[str, int]
    scheduled: int
    workers: int


def read_gauges(
    client: redis.Redis, layout: Layout, queues: tuple[str, ...], heartbeat_timeout_s: float
) -> QueueGauges:
    """What the queues hold right now (a handful of cheap reads, plus one SCAN of ack sets)."""
    in_flight = dict.fromkeys(queues, 0)
    for raw in client.scan_iter(match=layout.acks_pattern, count=1000):
        key = as_text(raw)
        _, queue = layout.worker_and_queue_of_acks(key)
        if queue in in_flight:
            in_flight[queue] += int(client.scard(raw))
    alive_since = now_ms() - int(heartbeat_timeout_s * 1000)
    return QueueGauges(
        waiting={q: int(client.llen(layout.queue(q).waiting)) for q in queues},
        in_flight=in_flight,
        dead={q: int(client.zcard(layout.queue(q).dead)) for q in queues},
        scheduled=int(client.zcard(layout.scheduled)),
        workers=int(client.zcount(layout.heartbeats, alive_since, "+inf")),
    )


# Above this many scheduled retries the overview shows their total only (decoding each
# message to find its queue would make a 2 s poll expensive exactly when things go wrong).
MAX_DECODED_SCHEDULED = 5000
MAX_JOBS_PER_WORKER = 50


def _job_id(data: bytes | str | None) -> str | None:
    message = wire.decode(data)
    return None if message is None else wire.job_id_of(message)


def delayed_by_queue(client: redis.Redis, layout: Layout, total: int) -> dict[str, int] | None:
    """Scheduled retries per queue, from each message's ``queue_name``; None when too many."""
    if total > MAX_DECODED_SCHEDULED:
        return None
    counts: dict[str, int] = defaultdict(int)
    for _, data in client.hscan_iter(layout.scheduled_messages, count=1000):
        message = wire.decode(data)
        if message is not None:
            counts[wire.queue_of(message)] += 1
    return dict(counts)


def workers(client: redis.Redis, layout: Layout, timeout_s: float) -> list[dict[str, Any]]:
    """Workers with a heartbeat within ``timeout_s``, newest first, with the job ids in their
    ack sets (fetched, not yet acked: what they are working on)."""
    now = now_ms()
    beats: list[tuple[bytes, float]] = client.zrevrangebyscore(
        layout.heartbeats, "+inf", now - int(timeout_s * 1000), withscores=True
    )  # type: ignore[assignment]
    alive = {as_text(member): score for member, score in beats}
    held: dict[str, list[str]] = defaultdict(list)
    for raw in client.scan_iter(match=layout.acks_pattern, count=1000):
        worker, queue = layout.worker_and_queue_of_acks(as_text(raw))
        if worker not in alive or len(held[worker]) >= MAX_JOBS_PER_WORKER:
            continue
        ids = sorted(as_text(m) for m in client.smembers(raw))[:MAX_JOBS_PER_WORKER]  # type: ignore[union-attr]
        if ids:
            datas = client.hmget(layout.queue(queue).messages, ids)
            held[worker] += [j for j in map(_job_id, datas) if j]  # type: ignore[arg-type]
    return [
        {
            "id": worker,
            "last_heartbeat_ms": int(score),
            "heartbeat_age_s": round(max(0, now - score) / 1000, 1),
            "jobs": sorted(held.get(worker, [])),
        }
        for worker, score in alive.items()
    ]
