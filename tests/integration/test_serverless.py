"""serverless.yml names real handlers, and each answers a real-shaped Lambda event."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from functions.producer import get_producer
from heavylift.config import Settings, get_settings
from heavylift.jobs.identity import default_spec, s3_job_id
from heavylift.jobs.models import JobState, S3Location
from infra.devstack import REPO_DIR, SOURCES_BUCKET, LocalStack
from infra.samples import write_sample
from tests.integration.conftest import wait_for_job
from tests.unit.conftest import notification, s3_record

pytestmark = pytest.mark.integration

CONFIG = yaml.safe_load((REPO_DIR / "serverless.yml").read_text())


def load_handler(dotted: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module.replace("/", ".")), name)  # type: ignore[no-any-return]


@pytest.fixture
def lambda_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment a deployed function would get, pointing at the test stack."""
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    get_producer.cache_clear()
    yield
    get_settings.cache_clear()
    get_producer.cache_clear()


def http_api_event(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as Lambda receives it."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abc.execute-api.us-east-1.amazonaws.com",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc",
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "21/Nov/2026:17:00:00 +0000",
            "timeEpoch": 1795280400000,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "pytest",
            },
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_serverless_declares_both_producers() -> None:
    functions = CONFIG["functions"]
    assert functions["http"]["handler"] == "functions/http.handler"
    assert functions["s3Upload"]["handler"] == "functions/s3_events.handler"
    routes = {(e["httpApi"]["method"], e["httpApi"]["path"]) for e in functions["http"]["events"]}
    assert {("POST", "/v1/jobs"), ("GET", "/v1/jobs/{job_id}"), ("POST", "/v1/events/s3")} <= routes
    [s3_event] = [e["s3"] for e in functions["s3Upload"]["events"]]
    assert s3_event["event"] == "s3:ObjectCreated:*" and "prefix" in s3_event["rules"][0]


def test_http_function_handles_an_api_gateway_event(
    lambda_env: None, s3: Any, api: httpx.Client, stack: LocalStack
) -> None:
    handler = load_handler(CONFIG["functions"]["http"]["handler"])
    s3.put_object(Bucket="heavylift-uploads", Key="lambda/none.txt", Body=b"x")  # any object
    created = handler(
        http_api_event(
            "POST",
            "/v1/jobs",
            {"source": {"bucket": "heavylift-uploads", "key": "lambda/none.txt"}},
            stack.auth_headers,
        ),
        None,
    )
    assert created["statusCode"] == 202
    job_id = json.loads(created["body"])["job_id"]
    assert created["headers"]["location"] == f"/v1/jobs/{job_id}"
    shown = handler(http_api_event("GET", f"/v1/jobs/{job_id}", None, stack.auth_headers), None)
    refused = handler(http_api_event("GET", f"/v1/jobs/{job_id}"), None)
    assert refused["statusCode"] == 401  # deployed, the API is closed by default too
    assert shown["statusCode"] == 200 and json.loads(shown["body"])["job_id"] == job_id
    assert wait_for_job(api, job_id).state is JobState.FAILED  # text is not an image


def test_s3_function_handles_a_notification(
    lambda_env: None, s3: Any, tmp_path: Path, api: httpx.Client
) -> None:
    settings = Settings(_env_file=None)  # from lambda_env
    handler = load_handler(CONFIG["functions"]["s3Upload"]["handler"])
    path = write_sample(tmp_path / "lambda.jpg", 900, 600, seed=21)
    # An allowed source bucket without notifications: only this invocation creates the job.
    s3.upload_file(str(path), SOURCES_BUCKET, "lambda-source/a b.jpg")
    etag = s3.head_object(Bucket=SOURCES_BUCKET, Key="lambda-source/a b.jpg")["ETag"].strip('"')
    result = handler(
        notification(
            s3_record(
                "lambda-source/a+b.jpg",
                bucket=SOURCES_BUCKET,
                etag=etag,
                version_id=None,
                size=path.stat().st_size,
            )
        ),
        None,
    )
    expected = s3_job_id(
        S3Location(bucket=SOURCES_BUCKET, key="lambda-source/a b.jpg", etag=etag),
        default_spec(settings),
    )
    assert result == {"submitted": [expected], "duplicates": []}
    assert wait_for_job(api, expected).state is JobState.SUCCEEDED
    # The results bucket is readable by workers but no source: the rules hold here too.
    refused = handler(notification(s3_record("x.jpg", bucket="heavylift-results")), None)
    assert refused["refused"] == {"bucket_not_allowed": 1} and not refused["submitted"]


def test_http_function_serves_the_dashboard(lambda_env: None) -> None:
    handler = load_handler(CONFIG["functions"]["http"]["handler"])
    routes = {
        (event["httpApi"]["method"], event["httpApi"]["path"])
        for event in CONFIG["functions"]["http"]["events"]
    }
    assert {("*", "/dashboard"), ("*", "/dashboard/{proxy+}")} <= routes
    login = handler(http_api_event("GET", "/dashboard/login"), None)
    assert login["statusCode"] == 200 and 'id="login"' in login["body"]
    assert handler(http_api_event("GET", "/dashboard/jobs"), None)["statusCode"] == 303
