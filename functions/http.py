"""The HTTP producer: job submission, job status and S3-style event intake.

Runs under uvicorn locally or on Lambda through Mangum (``handler``). Every handler is
thin: validate, call the core, shape the response.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from functions.problems import broker_down, problem
from functions.producer import get_producer
from heavylift.errors import BrokerUnavailable, InvalidEvent
from heavylift.events import object_created_events
from heavylift.jobs import default_spec, webhook_job_id
from heavylift.models import JobMessage, JobOrigin, S3Location

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
# Tracebacks are for operators (Redis, logs, `heavylift dlq`), not for API clients.
PRIVATE_FIELDS: dict[str, Any] = {"error": {"traceback"}, "errors": {"__all__": {"traceback"}}}


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None


class JobRequest(BaseModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    source: SourceIn


async def read_json(request: Request) -> Any:
    """The JSON body, read no further than ``MAX_BODY_BYTES`` (oversize bodies never buffer)."""
    too_large = _Problem(problem(413, "Payload Too Large", f"limit is {MAX_BODY_BYTES} bytes"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Problem(problem(400, "Bad Request", f"body is not valid JSON: {exc}")) from exc


class _Problem(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def create_job(request: Request) -> Response:
    try:
        job_request = JobRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        return problem(
            422,
            "Unprocessable Content",
            "the job request is invalid",
            errors=json.loads(exc.json(include_url=False, include_input=False)),
        )
    producer = get_producer()
    key = request.headers.get("idempotency-key") or request.headers.get("webhook-id")
    message = JobMessage(
        job_id=webhook_job_id(key),
        source=S3Location(**job_request.source.model_dump()),
        spec=default_spec(producer.settings),
        origin=JobOrigin.WEBHOOK,
    )
    submission = producer.submit(message)
    if not submission.created and submission.record.source != message.source:
        return problem(
            409,
            "Conflict",
            "this idempotency key was used for a different request",
            code="idempotency_conflict",
            job_id=submission.job_id,
        )
    location = f"/v1/jobs/{submission.job_id}"
    return JSONResponse(
        {
            "job_id": submission.job_id,
            "state": submission.record.state.value,
            "created": submission.created,
            "links": {"self": location},
        },
        status_code=202,
        headers={"Location": location},
    )


async def get_job(request: Request) -> Response:
    record = get_producer().store.get(request.path_params["job_id"])
    if record is None:
        return problem(404, "Not Found", "no such job", code="not_found")
    return JSONResponse(record.model_dump(mode="json", exclude=PRIVATE_FIELDS))


async def s3_events(request: Request) -> Response:
    """What MinIO and Ceph webhooks (and anything speaking S3 notifications) post."""
    payload = await read_json(request)
    try:
        uploads = object_created_events(payload)
    except InvalidEvent as exc:
        return problem(400, "Bad Request", exc.message, code=exc.code)
    producer = get_producer()
    jobs = [producer.submit_upload(upload).job_id for upload in uploads]
    return JSONResponse({"jobs": jobs}, status_code=202)


async def healthz(request: Request) -> Response:
    get_producer().store.ping()
    return JSONResponse({"status": "ok"})


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Problem)
    return exc.response


async def _on_broker_down(request: Request, exc: Exception) -> Response:
    log.warning("broker unavailable", extra={"path": request.url.path, "error": str(exc)})
    return broker_down(str(exc))


app = Starlette(
    routes=[
        Route("/v1/jobs", create_job, methods=["POST"]),
        Route("/v1/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/events/s3", s3_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    exception_handlers={_Problem: _on_problem, BrokerUnavailable: _on_broker_down},
)

handler = Mangum(app, lifespan="off")
