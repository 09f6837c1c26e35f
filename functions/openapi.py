"""``GET /openapi.json``: OpenAPI 3.1, generated from the pydantic models the handlers use."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from functions.api_models import EventsAccepted, Health, JobAccepted, JobRequest, Problem
from heavylift.config import Settings, get_settings
from heavylift.jobs.models import JobRecord
from heavylift.jobs.spec import MIN_THUMBNAIL_WIDTH

REF = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"webhookSignature": []}]
SIGNATURE_HEADERS = [
    ("webhook-id", "Standard Webhooks message id; also the idempotency key when signed."),
    ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes off."),
    ("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."),
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    media = "application/problem+json" if schema == _ref("Problem") else "application/json"
    return {"description": description, "content": {media: {"schema": schema}}, **extra}


def _problems(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "The body is not JSON (or nests too deeply), not an S3 notification, or the "
        "Idempotency-Key is malformed.",
        401: "Missing, invalid, tampered or stale credentials.",
        403: "The credential is valid but may not do this (see the README's credentials).",
        404: "No such job, or not one this credential made.",
        409: "The idempotency key was used for a different request.",
        413: "The body is over 256 KiB.",
        422: "The body failed validation or the deployment's policy (buckets, key prefix, "
        "URLs, outputs, records per request).",
        429: "The target queue is full; see Retry-After.",
        503: "Redis is unreachable; nothing was accepted. See Retry-After.",
    }
    return {str(s): _json(_ref("Problem"), reasons[s]) for s in statuses}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


def _apply_policy(schemas: dict[str, Any], settings: Settings) -> None:
    """Write this deployment's rules into the document, so clients (and fuzzers) see the
    buckets and output bounds that will be accepted, not just the shapes."""
    schemas["S3SourceIn"]["properties"]["bucket"]["enum"] = list(settings.allowed_source_buckets)
    options = schemas["OutputOptions"]["properties"]
    widths = options["widths"]["anyOf"][0]
    widths["items"] = {
        "type": "integer",
        "minimum": MIN_THUMBNAIL_WIDTH,
        "maximum": settings.max_output_width,
    }
    widths.update(minItems=1, maxItems=settings.max_outputs_per_job, uniqueItems=True)
    options["format"]["anyOf"][0]["enum"] = list(settings.output_formats)
    options["quality"]["anyOf"][0].update(minimum=1, maximum=100)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        JobRequest,
        JobAccepted,
        JobRecord,
        EventsAccepted,
        Health,
        Problem,
    ]
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation" if model is JobRequest else "serialization") for model in models
    ]
    _, definitions = models_json_schema(modes, ref_template=REF)
    _apply_policy(definitions["$defs"], get_settings())
    job_headers = [_header("Idempotency-Key", "Repeats of one key are the same job.")]
    job_headers += [_header(name, text) for name, text in SIGNATURE_HEADERS]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heavylift",
            "version": "1",
            "description": "Submit media jobs and follow them. Every operation but /healthz "
            "and /openapi.json needs a Standard Webhooks signature or a bearer key; a job is "
            "visible only to the client that made it.",
        },
        "paths": {
            "/v1/jobs": {
                "post": {
                    "operationId": "createJob",
                    "summary": "Queue a job for an S3 object or an https URL",
                    "security": SECURITY,
                    "parameters": job_headers,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("JobRequest")}},
                    },
                    "responses": {
                        "202": _json(
                            _ref("JobAccepted"),
                            "Queued (or already queued for this idempotency key).",
                            headers={"Location": {"schema": {"type": "string"}}},
                        ),
                        **_problems(400, 401, 403, 409, 413, 422, 429, 503),
                    },
                }
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "The job record: state, attempts, errors, outputs",
                    "security": SECURITY,
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("JobRecord"), "The job."),
                        **_problems(401, 404, 503),
                    },
                }
            },
            "/v1/events/s3": {
                "post": {
                    "operationId": "postS3Events",
                    "summary": "S3 'object created' notifications (MinIO, Ceph, SNS, SQS, "
                    "EventBridge shapes), with an event key",
                    "security": [{"bearerAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "202": _json(_ref("EventsAccepted"), "One job per created object."),
                        **_problems(400, 401, 403, 413, 422, 429, 503),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "200 when Redis answers",
                    "security": [],
                    "responses": {"200": _json(_ref("Health"), "Healthy."), **_problems(503)},
                }
            },
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks: also send webhook-id and webhook-timestamp.",
                },
            },
        },
    }
