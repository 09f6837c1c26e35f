"""The HTTP producer: job submission, job status and S3-style event intake.

Runs under uvicorn locally or on Lambda through Mangum (``handler``). Every handler is
thin: read a capped body, authenticate, validate, call the core, shape the response. The
API faces the internet, so it is closed by default: every route but ``/healthz`` and
``/openapi.json`` needs a Standard Webhooks signature or a bearer API key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mangum import Mangum
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from functions.api_models import JobAccepted, JobLinks, JobRequest, S3SourceIn
from functions.dashboard import dashboard_app
from functions.metrics_export import render
from functions.openapi import openapi_document
from functions.problems import broker_down, problem
from functions.producer import Producer, get_producer
from heavylift.errors import BrokerUnavailable, InvalidEvent, QueueFull
from heavylift.events import object_created_events
from heavylift.jobs import queue_for, webhook_job_id
from heavylift.jobstore import REDIS_DOWN
from heavylift.models import JobMessage, JobOrigin, S3Location, UrlSource
from heavylift.safe_http import UrlPolicy, UrlRefused, check_url
from heavylift.spec import spec_for
from heavylift.webhooks import Principal, Unauthorized

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
BACKPRESSURE_RETRY_AFTER_S = 30


class _Problem(Exception):
    """Raised anywhere in a handler to answer with a problem document."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _invalid(detail: str, code: str, **extra: Any) -> _Problem:
    return _Problem(problem(422, "Unprocessable Content", detail, code=code, **extra))


async def read_body(request: Request) -> bytes:
    """The body, read no further than ``MAX_BODY_BYTES`` (oversize bodies never buffer)."""
    too_large = _Problem(problem(413, "Payload Too Large", f"limit is {MAX_BODY_BYTES} bytes"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


def authenticate(request: Request, body: bytes, producer: Producer) -> Principal:
    try:
        return producer.auth.authenticate(request.headers, body)
    except Unauthorized as exc:
        response = problem(
            401,
            "Unauthorized",
            exc.message,
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="heavylift"'},
        )
        raise _Problem(response) from exc


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Problem(problem(400, "Bad Request", f"body is not valid JSON: {exc}")) from exc


def validate(model: type[BaseModel], payload: Any) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = json.loads(exc.json(include_url=False, include_input=False, include_context=False))
        raise _invalid("the request is invalid", "invalid_request", errors=errors) from exc


def job_message(
    request: JobRequest, principal: Principal, key: str | None, producer: Producer
) -> JobMessage:
    """Turn a valid request into a job, applying the deployment's policy (buckets, URL rules,
    output bounds, callbacks)."""
    settings = producer.settings
    policy = producer.url_policy
    source: S3Location | UrlSource
    if isinstance(request.source, S3SourceIn):
        if request.source.bucket not in settings.allowed_source_buckets:
            raise _invalid(
                f"bucket {request.source.bucket!r} is not one this API may read",
                "bucket_not_allowed",
            )
        source = S3Location(**request.source.model_dump())
    else:
        source = request.source
        _check_url(source.url, policy, "source.url")
    if request.callback_url is not None:
        if settings.callback_secret is None:
            raise _invalid("callbacks are not enabled on this deployment", "callbacks_disabled")
        _check_url(request.callback_url, policy, "callback_url")
    try:
        spec = spec_for(request.outputs, settings) if request.outputs else producer.default_spec
    except ValueError as exc:
        raise _invalid(str(exc), "invalid_outputs") from exc
    return JobMessage(
        # Keys are scoped to the credential, so one client cannot reach another's jobs.
        job_id=webhook_job_id(key, scope=principal.key_id),
        source=source,
        spec=spec,
        origin=JobOrigin.WEBHOOK,
        callback_url=request.callback_url,
    )


def _check_url(url: str, policy: UrlPolicy, field: str) -> None:
    try:
        check_url(url, policy)
    except UrlRefused as exc:
        raise _invalid(f"{field}: {exc.message}", exc.code) from exc


async def create_job(request: Request) -> Response:
    producer = get_producer()
    body = await read_body(request)
    principal = authenticate(request, body, producer)
    job_request: JobRequest = validate(JobRequest, parse_json(body))
    key = request.headers.get("idempotency-key") or principal.webhook_id
    message = job_message(job_request, principal, key, producer)
    try:
        submission = producer.submit(message, max_depth=producer.settings.max_queue_depth)
    except QueueFull:
        return problem(
            429,
            "Too Many Requests",
            f"the {queue_for(message.source)} queue is full; try again later",
            code="queue_full",
            headers={"Retry-After": str(BACKPRESSURE_RETRY_AFTER_S)},
        )
    record = submission.record
    same = (record.source, record.spec, record.callback_url) == (
        message.source,
        message.spec,
        message.callback_url,
    )
    if not submission.created and not same:
        return problem(
            409,
            "Conflict",
            "this idempotency key was used for a different request",
            code="idempotency_conflict",
            job_id=submission.job_id,
        )
    location = f"/v1/jobs/{submission.job_id}"
    accepted = JobAccepted(
        job_id=submission.job_id,
        state=record.state,
        created=submission.created,
        links=JobLinks(self=location),
    )
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": location}
    )


async def get_job(request: Request) -> Response:
    producer = get_producer()
    authenticate(request, b"", producer)
    record = producer.store.get(request.path_params["job_id"])
    if record is None:
        return problem(404, "Not Found", "no such job", code="not_found")
    return JSONResponse(record.public())


async def s3_events(request: Request) -> Response:
    """What MinIO and Ceph webhooks (and anything speaking S3 notifications) post; MinIO's
    ``auth_token`` arrives as the bearer key."""
    producer = get_producer()
    body = await read_body(request)
    authenticate(request, body, producer)
    try:
        uploads = object_created_events(parse_json(body))
    except InvalidEvent as exc:
        return problem(400, "Bad Request", exc.message, code=exc.code)
    jobs = [producer.submit_upload(upload).job_id for upload in uploads]
    return JSONResponse({"jobs": jobs}, status_code=202)


async def healthz(request: Request) -> Response:
    get_producer().store.ping()
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Open, like /healthz: scrapers carry no credentials (keep it off the public route)."""
    producer = get_producer()
    try:
        body = render(producer.store.client, producer.settings)
    except REDIS_DOWN as exc:
        raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


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
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/dashboard", app=dashboard_app),
    ],
    exception_handlers={_Problem: _on_problem, BrokerUnavailable: _on_broker_down},
)

handler = Mangum(app, lifespan="off")
