"""The overview: queue counts, live workers and what they hold, the last hour as charts.

Everything is read from the broker's own keys on each request (the same reads as
``/metrics``), so the page is right after any restart; the charts come from
``heavylift.state.history``. Polled every 2 s, so every read here is a handful of round trips.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.dashboard.web import api, json_response, page, render
from functions.producer import get_producer
from heavylift.queue import wire
from heavylift.queue.names import Queue
from heavylift.queue.recovery import now_ms
from heavylift.state import history
from heavylift.state.counters import read_gauges
from heavylift.state.keys import Layout

# Above this many scheduled retries the overview shows their total only (decoding each
# message to find its queue would make a 2 s poll expensive exactly when things go wrong).
MAX_DECODED_SCHEDULED = 5000
MAX_JOBS_PER_WORKER = 50


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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
    alive = {_text(member): score for member, score in beats}
    held: dict[str, list[str]] = defaultdict(list)
    for raw in client.scan_iter(match=layout.acks_pattern, count=1000):
        worker, queue = layout.worker_and_queue_of_acks(_text(raw))
        if worker not in alive or len(held[worker]) >= MAX_JOBS_PER_WORKER:
            continue
        ids = sorted(_text(m) for m in client.smembers(raw))[:MAX_JOBS_PER_WORKER]  # type: ignore[union-attr]
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


def overview_data() -> dict[str, Any]:
    producer = get_producer()
    settings, client = producer.settings, producer.store.client
    layout = Layout(settings.namespace)
    gauges = read_gauges(client, layout, tuple(Queue), settings.heartbeat_timeout_s)
    delayed = delayed_by_queue(client, layout, gauges.scheduled)
    queues = [
        {
            "name": queue.value,
            "ready": gauges.waiting[queue],
            "delayed": None if delayed is None else delayed.get(queue, 0),
            "in_flight": gauges.in_flight[queue],
            "dead": gauges.dead[queue],
        }
        for queue in Queue
    ]
    return {
        "queues": queues,
        "delayed_total": gauges.scheduled,
        "delayed_per_queue": delayed is not None,
        "workers": workers(client, layout, settings.heartbeat_timeout_s),
        "heartbeat_timeout_s": settings.heartbeat_timeout_s,
        "history": [point.as_dict() for point in history.last_hour(client, settings.namespace)],
    }


@page
async def overview(request: Request) -> Response:
    return render(request, "overview.html", data=await run_in_threadpool(overview_data))


@api
async def overview_json(request: Request) -> Response:
    return json_response(await run_in_threadpool(overview_data))
