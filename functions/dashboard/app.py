"""The dashboard's Starlette app: its routes, its session middleware, its 503 page.

Mounted at ``/dashboard`` by ``functions.http``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from functions.dashboard import auth, dead_letters, jobs, overview
from functions.dashboard.session import LazySession
from functions.dashboard.web import HERE, json_response, render, wants_json
from heavylift.errors import BrokerUnavailable
from heavylift.state.redis import REDIS_DOWN

log = logging.getLogger(__name__)

REDIS_DOWN_MESSAGE = "Redis is unavailable; the log has the details. Try again shortly."


async def _broker_down(request: Request, exc: Exception) -> Response:
    """Redis away is an operator's everyday problem: say so, with a 503, not a stack trace.
    Where Redis lives (host, port) goes to the log: the login page is open to anyone."""
    log.warning("dashboard: Redis unavailable", extra={"error": str(exc)})
    if wants_json(request) or "/api/" in request.url.path:
        return json_response({"error": REDIS_DOWN_MESSAGE}, 503)
    return render(request, "error.html", 503, title="Redis unavailable", message=REDIS_DOWN_MESSAGE)


routes = [
    Route("/", overview.overview, methods=["GET"], name="overview"),
    Route("/login", auth.login_form, methods=["GET"], name="login_form"),
    Route("/login", auth.login, methods=["POST"], name="login"),
    Route("/logout", auth.logout, methods=["POST"], name="logout"),
    Route("/jobs", jobs.job_list, methods=["GET"], name="jobs"),
    Route("/jobs/{job_id}", jobs.job_detail, methods=["GET"], name="job"),
    Route("/dead-letters", dead_letters.letter_list, methods=["GET"], name="dead_letters"),
    Route("/dead-letters/replay", dead_letters.replay, methods=["POST"], name="replay"),
    Route("/dead-letters/purge", dead_letters.purge, methods=["POST"], name="purge"),
    Route("/dead-letters/{letter_id}", dead_letters.letter_detail, methods=["GET"]),
    Route("/api/overview", overview.overview_json, methods=["GET"]),
    Route("/api/jobs", jobs.job_list_json, methods=["GET"]),
    Route("/api/jobs/{job_id}", jobs.job_detail_json, methods=["GET"]),
    Route("/api/dead-letters", dead_letters.letter_list_json, methods=["GET"]),
    Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
]

dashboard_app = Starlette(
    routes=routes,
    middleware=[Middleware(LazySession)],
    exception_handlers={
        BrokerUnavailable: _broker_down,
        **dict.fromkeys(REDIS_DOWN, _broker_down),
    },
)

__all__ = ["dashboard_app"]
