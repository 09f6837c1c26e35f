"""Bring back the in-flight messages of workers that died.

Dramatiq's Redis broker remembers which messages each worker fetched (an ack set per worker
and queue) and gives them back only when some broker command wins a 0.1 % maintenance
lottery after a 60 s heartbeat timeout. Heavylift does it deterministically:

* a worker's supervisor knows the moment a child dies and calls :func:`requeue_worker`
  with that child's id, so a crashed job runs again within a second;
* every worker heartbeats (:func:`heartbeat`) and calls :func:`reap_dead_workers` every few
  seconds, which catches workers whose whole machine went away.

A message is only pushed back if its body is still in the queue's hash, so a message that
was acked (or dead-lettered) meanwhile is never resurrected.
"""

from __future__ import annotations

import time

import redis

from heavylift.state.keys import Layout
from heavylift.state.redis import as_text
from heavylift.state.scripts import script


def now_ms() -> int:
    return int(time.time() * 1000)


def heartbeat(client: redis.Redis, layout: Layout, worker_id: str) -> None:
    """Say "still alive" (the same sorted set Dramatiq's own broker commands update)."""
    client.zadd(layout.heartbeats, {worker_id: now_ms()})


def requeue_worker(client: redis.Redis, layout: Layout, worker_id: str) -> int:
    """Put every message ``worker_id`` fetched but never finished back on its queue.

    Only call this for a worker known to be gone: a live one would run them twice."""
    prefix = layout.acks_prefix(worker_id)
    requeue = script(client, "requeue_ack_set")
    moved = 0
    for raw_key in client.scan_iter(match=layout.worker_acks_pattern(worker_id), count=500):
        key = as_text(raw_key)
        queue = layout.queue(key[len(prefix) :])
        moved += int(requeue(keys=[key, queue.waiting, queue.messages]))
    client.zrem(layout.heartbeats, worker_id)
    return moved


def reap_dead_workers(client: redis.Redis, layout: Layout, timeout_s: float) -> dict[str, int]:
    """Requeue the messages of every worker silent for ``timeout_s``; worker id → messages."""
    cutoff = now_ms() - int(timeout_s * 1000)
    silent = client.zrangebyscore(layout.heartbeats, 0, cutoff)
    reaped: dict[str, int] = {}
    for raw_id in silent:
        worker_id = as_text(raw_id)
        reaped[worker_id] = requeue_worker(client, layout, worker_id)
    return reaped
