"""Webhook jobs end to end: a URL source fetched by the worker, a URL source that redirects
to the cloud metadata address refused, and a signed callback delivered (after a retry) to the
client's endpoint, verified with the official ``standardwebhooks`` package."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from heavylift.jobs.models import ImageMetadata, JobRecord, JobState
from infra.devstack import LocalStack
from infra.processes import free_port
from infra.samples import write_sample
from tests.integration.conftest import url_source_stack

pytestmark = pytest.mark.integration


class Site:
    """A tiny web server on 127.0.0.1 standing in for the internet: serves files, redirects,
    and records callbacks (answering 500 to the first one)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.callbacks: list[tuple[dict[str, str], bytes]] = []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/to-metadata.jpg":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.end_headers()
                    return
                super().do_GET()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                site.callbacks.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(site.callbacks) == 1 else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("site")
    write_sample(directory / "remote.jpg", 1200, 800, seed=12)
    site = Site(directory)
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[LocalStack]:
    # The local "internet" lives on loopback; the stack exempts exactly the site.
    stack = url_source_stack(tmp_path_factory.mktemp("webhooks"), site.port)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, headers=stack.auth_headers, timeout=10) as client:
        yield client


def wait_final(api: httpx.Client, job_id: str, timeout: float = 60) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = JobRecord.model_validate(api.get(f"/v1/jobs/{job_id}").json())
        if record.state.is_final:
            return record
        time.sleep(0.2)
    raise AssertionError(f"{job_id} not final")


def submit(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_a_url_source_is_fetched_and_processed(api: httpx.Client, site: Site) -> None:
    job_id = submit(
        api,
        {"source": {"url": site.url("remote.jpg")}, "outputs": {"widths": [200], "format": "jpeg"}},
    )
    record = wait_final(api, job_id)
    assert record.state is JobState.SUCCEEDED, record.error
    keys = {entry.key for entry in record.outputs}
    assert {f"{job_id}/thumb-200.jpg", f"{job_id}/metadata.json", f"{job_id}/manifest.json"} == keys
    assert isinstance(record.media, ImageMetadata)
    assert (record.media.width, record.media.height) == (1200, 800)


def test_a_url_source_redirecting_to_the_metadata_service_is_refused(
    api: httpx.Client, site: Site
) -> None:
    job_id = submit(api, {"source": {"url": site.url("to-metadata.jpg")}})
    record = wait_final(api, job_id)
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code == "url_refused"
    assert record.attempts == 1  # permanent: no retry knocks on that door again


def test_a_signed_callback_is_delivered_after_a_failed_attempt(
    api: httpx.Client, stack: LocalStack, site: Site
) -> None:
    job_id = submit(
        api,
        {"source": {"url": site.url("remote.jpg")}, "callback_url": site.url("hooks/heavylift")},
    )
    assert wait_final(api, job_id).state is JobState.SUCCEEDED
    deadline = time.monotonic() + 30
    while len(site.callbacks) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(site.callbacks) == 2  # the first answer was a 500: retried with backoff
    secret = stack.env["HEAVYLIFT_CALLBACK_SECRET"]
    for headers, body in site.callbacks:
        Webhook(secret).verify(body, headers)  # raises unless signed by us, recently
    first, second = (json.loads(body) for _, body in site.callbacks)
    assert first["data"] == second["data"]  # the same notice, redelivered
    assert second["type"] == "job.succeeded" and second["data"]["job_id"] == job_id
    assert "traceback" not in json.dumps(second)
    assert site.callbacks[0][0]["webhook-id"] == site.callbacks[1][0]["webhook-id"]

    record = JobRecord.model_validate(api.get(f"/v1/jobs/{job_id}").json())
    deadline = time.monotonic() + 10
    while record.callback_delivered_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        record = JobRecord.model_validate(api.get(f"/v1/jobs/{job_id}").json())
    assert record.callback_attempts == 2 and record.callback_delivered_at is not None
