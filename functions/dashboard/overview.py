"""The overview: queue counts, live workers and what they hold, the last hour as charts.

Everything is read from the queues on each request through ``heavylift.queue.inspection``
(the same reads as ``/metrics``), so the page is right after any restart; the charts come
from ``heavylift.state.history``. Polled every 2 s.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.dashboard.web import api, json_response, page, render
from functions.producer import get_producer
from heavylift.queue.inspection import delayed_by_queue, read_gauges, workers
from heavylift.queue.names import Queue
from heavylift.state import history
from heavylift.state.keys import Layout


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
