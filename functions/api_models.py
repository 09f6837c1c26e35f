"""What crosses the HTTP boundary: request and response bodies as pydantic models.

``functions/openapi.py`` builds ``/openapi.json`` from these same classes, so the document
cannot drift from what the handlers accept and return.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from heavylift.jobs.models import JobState, UrlSource
from heavylift.jobs.spec import OutputOptions


class S3SourceIn(BaseModel):
    """An object in one of the buckets the API is allowed to read."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63, examples=["heavylift-uploads"])
    key: str = Field(min_length=1, max_length=1024, examples=["photos/cat.jpg"])
    version_id: str | None = Field(default=None, max_length=1024)


def _source_kind(value: Any) -> str:
    return "url" if isinstance(value, dict) and "url" in value else "s3"


SourceIn = Annotated[
    Annotated[S3SourceIn, Tag("s3")] | Annotated[UrlSource, Tag("url")],
    Discriminator(_source_kind),
]


class JobRequest(BaseModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    source: SourceIn
    outputs: OutputOptions | None = Field(
        default=None, description="Thumbnail widths, format and quality; defaults if absent."
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed the job record, signed (Standard Webhooks), when the job ends.",
        examples=["https://example.com/hooks/heavylift"],
    )


class JobLinks(BaseModel):
    self: str


class JobAccepted(BaseModel):
    """``202``: the job is queued (or was already, for a repeated idempotency key)."""

    job_id: str
    state: JobState
    created: bool = Field(description="False when this request repeated an earlier one.")
    links: JobLinks


class EventsAccepted(BaseModel):
    jobs: list[str]


class Health(BaseModel):
    status: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
