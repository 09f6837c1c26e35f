"""The ingest benchmark's baseline: ``POST /v1/jobs`` with nothing behind it.

A bare Starlette app, run by ``bench/ingest.py`` under the very uvicorn argv the real API
gets, so the ratio real/bare isolates what Heavylift's handler costs (auth, validation,
Redis, Dramatiq, logging) from what any Starlette endpoint on this server costs (HTTP
parsing, routing, the event loop). It reads the body and answers 202 with a JSON body and
a ``Location`` header of the same shape and size as the real one, so both sides put the
same bytes on the wire; it does no auth and touches no Redis.
"""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)


def job_id(n: int) -> str:
    """The real API's ids are ``j`` + 31 hex digits; a counter gives the same length without
    uuid4's cost, which would otherwise be charged to the baseline."""
    return f"j{n:031x}"


async def create_job(request: Request) -> Response:
    await request.body()
    job = job_id(next(_ids))
    location = f"/v1/jobs/{job}"
    return JSONResponse(
        {"job_id": job, "state": "queued", "created": True, "links": {"self": location}},
        status_code=202,
        headers={"Location": location},
    )


app = Starlette(routes=[Route("/v1/jobs", create_job, methods=["POST"])])
