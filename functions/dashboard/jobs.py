"""The job list (filters and pages over ``heavylift.state.index``) and one job's page.

The list never reads more records than a page shows, whatever the number of jobs: filters
and cursors go straight to ``list_jobs``. Output links are presigned S3 GETs valid an hour,
so the browser fetches outputs from S3 and the API never proxies bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.dashboard.web import age_s, api, json_response, page, render
from functions.producer import get_producer
from heavylift.config import Settings
from heavylift.errors import HeavyliftError
from heavylift.jobs.models import JobRecord, JobState, S3Location
from heavylift.jobs.spec import MediaKind
from heavylift.moments import parse_moment
from heavylift.state.index import JobFilter, JobPage, list_jobs, media_type_of
from heavylift.storage.s3 import presigned_get_url, s3_client

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
LINK_TTL_S = 3600
FILTER_PARAMS = ("state", "media_type", "queue", "since", "until", "error_code", "q")


class BadFilter(ValueError):
    """A filter the operator typed that means nothing: shown on the page, answered 400."""


def filters_from(params: Any) -> tuple[JobFilter, dict[str, str]]:
    """The ``JobFilter`` of the query string, and the raw values to refill the form with."""
    raw = {name: str(params.get(name, "")).strip() for name in FILTER_PARAMS}
    try:
        filters = JobFilter.model_validate(
            {
                "state": raw["state"] or None,
                "media_type": raw["media_type"] or None,
                "queue": raw["queue"] or None,
                "since": parse_moment(raw["since"]),
                "until": parse_moment(raw["until"]),
                "error_code": raw["error_code"] or None,
                "key_contains": raw["q"] or None,
            }
        )
    except (ValidationError, ValueError) as exc:
        raise BadFilter(_first_error(exc)) from exc
    return filters, raw


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)


def source_text(record: JobRecord) -> str:
    source = record.source
    return source.uri if isinstance(source, S3Location) else source.url


def row(record: JobRecord) -> dict[str, Any]:
    """One list row, as the page renders it and ``/api/jobs`` returns it."""
    return {
        "job_id": record.job_id,
        "state": record.state.value,
        "queue": record.queue,
        "media_type": media_type_of(record),
        "source": source_text(record),
        "created_at": record.created_at.isoformat(),
        "progress": record.progress,
        "attempts": record.attempts,
        "error_code": record.error.code if record.error else None,
    }


def _page(request: Request) -> tuple[JobPage, dict[str, str]]:
    filters, raw = filters_from(request.query_params)
    try:
        limit = min(max(int(request.query_params.get("limit", PAGE_SIZE)), 1), MAX_PAGE_SIZE)
        producer = get_producer()
        result = list_jobs(
            producer.store.client,
            producer.settings.namespace,
            filters,
            cursor=request.query_params.get("cursor") or None,
            limit=limit,
        )
    except ValueError as exc:  # a cursor or limit someone typed
        raise BadFilter(str(exc)) from exc
    return result, raw


@page
async def job_list(request: Request) -> Response:
    try:
        result, raw = await run_in_threadpool(_page, request)
    except BadFilter as exc:
        raw = {n: request.query_params.get(n, "") for n in FILTER_PARAMS}
        return render(
            request,
            "jobs.html",
            400,
            error=str(exc),
            rows=[],
            filters=raw,
            states=list(JobState),
            kinds=list(MediaKind),
            page=None,
            next_url=None,
        )
    query = {k: v for k, v in raw.items() if v}
    next_url = (
        f"?{urlencode({**query, 'cursor': result.next_cursor})}" if result.next_cursor else None
    )
    return render(
        request,
        "jobs.html",
        rows=[row(record) for record in result.jobs],
        filters=raw,
        states=list(JobState),
        kinds=list(MediaKind),
        page=result,
        next_url=next_url,
        first_url=f"?{urlencode(query)}",
        paged=bool(request.query_params.get("cursor")),
    )


@api
async def job_list_json(request: Request) -> Response:
    try:
        result, _ = await run_in_threadpool(_page, request)
    except BadFilter as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response(
        {
            "jobs": [row(record) for record in result.jobs],
            "next_cursor": result.next_cursor,
            "total_estimate": result.total_estimate,
            "partial": result.partial,
        }
    )


@lru_cache(maxsize=1)
def _s3(settings: Settings) -> Any:
    """One client per settings (signing is local: no request to S3 per link)."""
    return s3_client(settings)


def link(settings: Settings, location: S3Location) -> str | None:
    """A presigned GET, or None when signing is impossible (no credentials, say)."""
    try:
        return presigned_get_url(_s3(settings), location, LINK_TTL_S)
    except HeavyliftError:
        return None


def timings(record: JobRecord) -> dict[str, float | None]:
    """Seconds per stage: queued (enqueued→started), processing (started→finished), total
    (created→finished). A stage still under way counts up to now; one never reached is None."""
    now = datetime.now(UTC)
    queued_from = record.enqueued_at or record.created_at
    queued_until = record.started_at or (None if record.state.is_final else now)
    processing_until = record.finished_at or (None if record.state.is_final else now)
    return {
        "queued": age_s(queued_from, queued_until) if queued_until else None,
        "processing": age_s(record.started_at, processing_until) if processing_until else None,
        "total": age_s(record.created_at, record.finished_at or now),
    }


def job_view(record: JobRecord) -> dict[str, Any]:
    settings = get_producer().settings
    bucket = settings.results_bucket
    outputs = [
        {
            **output.model_dump(),
            "url": link(settings, S3Location(bucket=bucket, key=output.key)),
            "is_image": output.content_type.startswith("image/"),
        }
        for output in record.outputs
    ]
    source = record.source
    return {
        **row(record),
        "final": record.state.is_final,
        "timings": timings(record),
        "outputs": outputs,
        "source_url": link(settings, source) if isinstance(source, S3Location) else source.url,
        "manifest_url": link(settings, S3Location(bucket=bucket, key=record.manifest_key))
        if record.manifest_key
        else None,
    }


def _load(job_id: str) -> tuple[JobRecord | None, dict[str, Any] | None]:
    record = get_producer().store.get(job_id)
    return record, None if record is None else job_view(record)


@page
async def job_detail(request: Request) -> Response:
    record, view = await run_in_threadpool(_load, request.path_params["job_id"])
    if record is None:
        return render(request, "error.html", 404, title="Not found", message="No such job.")
    return render(request, "job.html", record=record, job=view)


@api
async def job_detail_json(request: Request) -> Response:
    record, view = await run_in_threadpool(_load, request.path_params["job_id"])
    if view is None:
        return json_response({"error": "no such job"}, 404)
    return json_response(view)
