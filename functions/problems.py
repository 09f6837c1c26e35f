"""RFC 9457 problem documents: every error the API returns has the same readable shape."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from heavylift.errors import BrokerUnavailable


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if code:
        body["code"] = code
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


BROKER_DOWN_DETAIL = "the job queue is unavailable; try again shortly"


def broker_down() -> ProblemResponse:
    """503 with Retry-After: the client (or MinIO, or Ceph) must send this again later. What
    failed, and where, is for the log: a client learns only that it should come back."""
    return problem(
        503,
        "Service Unavailable",
        BROKER_DOWN_DETAIL,
        code=BrokerUnavailable.code,
        headers={"Retry-After": "5"},
    )
