"""The HTTP producer: job submission, job status and S3-style event intake.

Runs under uvicorn locally or on Lambda through Mangum (``handler``). Every handler is
thin: read a capped body, authenticate, validate, call the core, shape the response. The
API faces the internet, so it is closed by default: every route but ``/healthz`` and
``/openapi.json`` needs a credential with the right scope (``heavylift.net.credentials``), a
job is visible only to the client that made it, and errors say what the client did wrong,
never where inside Heavylift something failed. ``/metrics`` needs its own token here;
``metrics_app`` serves it without one, for an internal listener.
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
from functions.dashboard.app import dashboard_app
from functions.metrics_export import render
from functions.openapi import openapi_document
from functions.problems import broker_down, problem
from functions.producer import Producer, get_producer
from heavylift.errors import (
    BrokerUnavailable,
    BucketNotAllowed,
    CallbacksDisabled,
    Forbidden,
    IdempotencyConflict,
    InvalidEvent,
    InvalidIdempotencyKey,
    InvalidJson,
    InvalidOutputs,
    InvalidRequest,
    KeyNotAllowed,
    NotFound,
    QueueFull,
    TooManyRecords,
    Unauthorized,
    UrlRefused,
)
from heavylift.jobs.identity import MAX_IDEMPOTENCY_KEY_CHARS, queue_for, webhook_job_id
from heavylift.jobs.models import JobMessage, JobOrigin, S3Location, UrlSource
from heavylift.jobs.source_rules import check_source_bucket, check_upload
from heavylift.jobs.spec import spec_for
from heavylift.jobs.upload_events import object_created_events
from heavylift.net.credentials import Principal, Scope, check_bearer
from heavylift.net.safe_http import UrlPolicy, check_url
from heavylift.state.redis import REDIS_DOWN

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


def authenticate(
    request: Request, body: bytes, producer: Producer, scope: Scope | None = None
) -> Principal:
    """The caller, who must hold ``scope`` (401 without valid credentials, 403 without it)."""
    try:
        principal = producer.auth.authenticate(request.headers, body)
    except Unauthorized as exc:
        response = problem(
            401,
            "Unauthorized",
            exc.message,
            code=Unauthorized.code,
            headers={"WWW-Authenticate": 'Bearer realm="heavylift"'},
        )
        raise _Problem(response) from exc
    if scope is not None:
        try:
            principal.require(scope)
        except Forbidden as exc:
            raise _Problem(problem(403, "Forbidden", exc.message, code=exc.code)) from exc
    return principal


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = f"body is not valid JSON: {exc}"
        raise _Problem(problem(400, "Bad Request", detail, code=InvalidJson.code)) from exc
    except RecursionError as exc:
        detail = "body nests JSON too deeply"
        raise _Problem(problem(400, "Bad Request", detail, code=InvalidJson.code)) from exc


def idempotency_key(request: Request, principal: Principal) -> str | None:
    """What makes a retry the same job. For a signed request only the signed ``webhook-id``
    counts: ``Idempotency-Key`` is not covered by the signature, so a replay could change it."""
    if principal.method == "signature":
        return principal.webhook_id
    key = request.headers.get("idempotency-key")
    if key is not None and (
        len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not (key.isascii() and key.isprintable())
    ):
        detail = f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII"
        raise _Problem(problem(400, "Bad Request", detail, code=InvalidIdempotencyKey.code))
    return key


def validate(model: type[BaseModel], payload: Any) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = json.loads(exc.json(include_url=False, include_input=False, include_context=False))
        raise _invalid("the request is invalid", InvalidRequest.code, errors=errors) from exc


def job_message(
    request: JobRequest, principal: Principal, key: str | None, producer: Producer
) -> JobMessage:
    """Turn a valid request into a job, applying the deployment's policy (buckets, URL rules,
    output bounds, callbacks)."""
    settings = producer.settings
    policy = producer.url_policy
    source: S3Location | UrlSource
    if isinstance(request.source, S3SourceIn):
        try:
            check_source_bucket(request.source.bucket, settings)
        except BucketNotAllowed as exc:
            raise _invalid(exc.message, exc.code) from exc
        source = S3Location(**request.source.model_dump())
    else:
        source = request.source
        _check_url(source.url, policy, "source.url")
    if request.callback_url is not None:
        if settings.callback_secret is None:
            raise _invalid("callbacks are not enabled on this deployment", CallbacksDisabled.code)
        _check_url(request.callback_url, policy, "callback_url")
    try:
        spec = spec_for(request.outputs, settings) if request.outputs else producer.default_spec
    except ValueError as exc:
        raise _invalid(str(exc), InvalidOutputs.code) from exc
    return JobMessage(
        # Keys are scoped to the client, so one client cannot reach another's jobs.
        job_id=webhook_job_id(key, scope=principal.client),
        source=source,
        spec=spec,
        origin=JobOrigin.WEBHOOK,
        callback_url=request.callback_url,
        owner=principal.client,
    )


def _check_url(url: str, policy: UrlPolicy, field: str) -> None:
    try:
        check_url(url, policy)
    except UrlRefused as exc:
        raise _invalid(f"{field}: {exc.message}", exc.code) from exc


def queue_full(exc: QueueFull, queue: str) -> Response:
    """429: the sender should come back later (after ``Retry-After``), nothing is lost."""
    return problem(
        429,
        "Too Many Requests",
        f"the {queue} queue is full; try again later",
        code=exc.code,
        headers={"Retry-After": str(BACKPRESSURE_RETRY_AFTER_S)},
    )


async def create_job(request: Request) -> Response:
    producer = get_producer()
    body = await read_body(request)
    principal = authenticate(request, body, producer, Scope.SUBMIT_JOBS)
    job_request: JobRequest = validate(JobRequest, parse_json(body))
    message = job_message(job_request, principal, idempotency_key(request, principal), producer)
    try:
        submission = producer.submit(message, max_depth=producer.settings.max_queue_depth)
    except QueueFull as exc:
        return queue_full(exc, queue_for(message.source))
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
            code=IdempotencyConflict.code,
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
    """The job, to the client that made it; everyone else gets the 404 of a missing job."""
    producer = get_producer()
    principal = authenticate(request, b"", producer)
    record = producer.store.get(request.path_params["job_id"])
    if record is None or not principal.can_read(record.owner, record.origin):
        return problem(404, "Not Found", "no such job", code=NotFound.code)
    return JSONResponse(record.public())


async def s3_events(request: Request) -> Response:
    """What MinIO and Ceph webhooks (and anything speaking S3 notifications) post, with an
    event key as the bearer (MinIO's ``auth_token``). Every record is checked before any is
    queued, so a refused request queued nothing."""
    producer = get_producer()
    body = await read_body(request)
    authenticate(request, body, producer, Scope.POST_EVENTS)
    try:
        uploads = object_created_events(parse_json(body), producer.settings.max_event_records)
        for upload in uploads:
            check_upload(upload.location, producer.settings)
    except InvalidEvent as exc:
        return problem(400, "Bad Request", exc.message, code=exc.code)
    except (TooManyRecords, BucketNotAllowed, KeyNotAllowed) as exc:
        raise _invalid(exc.message, exc.code) from exc
    jobs = []
    for upload in uploads:
        try:
            jobs.append(producer.submit_upload(upload).job_id)
        except QueueFull as exc:  # those already queued are the same jobs when it comes back
            return queue_full(exc, queue_for(upload.location))
    return JSONResponse({"jobs": jobs}, status_code=202)


async def healthz(request: Request) -> Response:
    get_producer().store.ping()
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Behind ``HEAVYLIFT_METRICS_TOKEN`` on the public app (a scraper's bearer token); with
    no token configured it is not served here at all."""
    token = get_producer().settings.metrics_token
    if token is None:
        return problem(404, "Not Found", "metrics are not served here", code=NotFound.code)
    if not check_bearer(request.headers.get("authorization"), [token.get_secret_value()]):
        return problem(
            401,
            "Unauthorized",
            "metrics need the metrics token",
            code=Unauthorized.code,
            headers={"WWW-Authenticate": 'Bearer realm="heavylift-metrics"'},
        )
    return await open_metrics(request)


async def open_metrics(request: Request) -> Response:
    """Prometheus text, for ``metrics_app`` on an internal listener (and, token-checked,
    ``/metrics`` of the public app)."""
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
    """The detail (hosts, ports) goes to the log; the client learns only to come back."""
    log.warning("broker unavailable", extra={"path": request.url.path, "error": str(exc)})
    return broker_down()


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

# ``uvicorn functions.http:metrics_app --host <internal address> --port 9100``: /metrics
# without a token, for Prometheus or KEDA inside the network, never routed publicly.
metrics_app = Starlette(
    routes=[Route("/metrics", open_metrics, methods=["GET"])],
    exception_handlers={BrokerUnavailable: _on_broker_down},
)
