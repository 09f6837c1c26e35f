"""The security review's crafted uploads, processed by real workers: DASH manifests, HLS
playlists and ffconcat scripts dressed as MP4, MOV, MKV and MP3, and SVGs dressed as AVIF
and PNG. Each must fail with a named error, and while they are processed nothing may
follow their references: a listener on loopback (standing in for the cloud metadata
service) records every request, and inotify records every open of a real media file that
lives outside any job's spool.

Uploads go through S3 (ffmpeg may read a presigned http URL); URL sources are downloaded to
a spool file first (ffmpeg may read a local path), so both are tried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heavylift.config import Settings
from heavylift.jobs.models import JobRecord, JobState
from infra.samples import write_video
from tests.crafted_media import (
    DISGUISES,
    KINDS,
    SUFFIX_CONTENT_TYPES,
    SVG_DISGUISES,
    LoopbackTrap,
    OpenWatch,
    Site,
    crafted,
    png_bomb,
    svg_disguised,
)
from tests.integration.conftest import upload, url_source_stack, wait_for_job

pytestmark = pytest.mark.integration

NAMED = {"unsupported_media", "corrupt_media"}
CASES = [(kind, disguise) for kind in KINDS for disguise in DISGUISES] + [
    ("svg", disguise) for disguise in SVG_DISGUISES
]


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}.{case[1]}"


@pytest.fixture(scope="module")
def trap() -> Iterator[LoopbackTrap]:
    listener = LoopbackTrap()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenWatch]:
    """A real video on the worker's disk, outside every spool, watched for opens."""
    path = write_video(tmp_path_factory.mktemp("outside-spool"), "mp4", seconds=1, name="private")
    watch = OpenWatch(path)
    yield watch
    watch.close()


def payload(case: tuple[str, str], references: list[str]) -> bytes:
    kind, disguise = case
    return svg_disguised(disguise) if kind == "svg" else crafted(kind, disguise, references)


def assert_failed_untouched(
    record: JobRecord, trap: LoopbackTrap, sentinel: OpenWatch, hits: int, opens: int
) -> None:
    assert record.state is JobState.FAILED, (record.state, record.outputs)
    assert record.error is not None and record.error.code in NAMED, record.error
    assert record.attempts == 1  # permanent: no retry knocks again
    for secret in ("127.0.0.1", "X-Amz", "/tmp", str(sentinel.path)):
        assert secret not in record.error.message, record.error.message
    assert trap.hits == hits, trap.requests
    assert sentinel.count() == opens, "a file outside the job's spool was opened"


# --- uploads to S3 (the session stack) ----------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_crafted_upload_fails_without_following_its_references(
    case: tuple[str, str],
    tmp_path: Path,
    s3: Any,
    settings: Settings,
    api: httpx.Client,
    trap: LoopbackTrap,
    sentinel: OpenWatch,
) -> None:
    kind, disguise = case
    # an http manifest may open http (the metadata service) by ffmpeg's own defaults: first
    references = [trap.url(), f"file:{sentinel.path}"]
    local = tmp_path / f"{kind}{SUFFIX_CONTENT_TYPES.get(kind, '.bin')}"
    local.write_bytes(payload(case, references))
    hits, opens = trap.hits, sentinel.count()
    job_id = upload(s3, settings, local, f"crafted/{kind}.{disguise}")
    record = wait_for_job(api, job_id, timeout=120)
    assert_failed_untouched(record, trap, sentinel, hits, opens)


def test_a_real_mp4_next_to_them_still_processes(
    tmp_path: Path,
    s3: Any,
    settings: Settings,
    api: httpx.Client,
    trap: LoopbackTrap,
    sentinel: OpenWatch,
) -> None:
    source = write_video(tmp_path, "mp4", seconds=1)
    job_id = upload(s3, settings, source, "crafted/real.mp4")
    record = wait_for_job(api, job_id, timeout=120)
    assert record.state is JobState.SUCCEEDED, record.error
    assert any(o.key.endswith("preview.mp4") for o in record.outputs)
    assert trap.hits == 0 and sentinel.count() == 0


def test_an_image_bomb_is_too_large(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    """Declared dimensions far past max_pixels fail from the header, before decoding."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(60_000, 60_000))
    record = wait_for_job(api, upload(s3, settings, bomb, "crafted/bomb.png"), timeout=60)
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code == "too_large"
    assert record.attempts == 1


# --- URL sources (a stack that may fetch from loopback) ----------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


@pytest.fixture(scope="module")
def url_api(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[httpx.Client]:
    # Only the site's port is exempt, not the trap's: the trap stays out of reach.
    stack = url_source_stack(tmp_path_factory.mktemp("crafted-urls"), site.port)
    try:
        with httpx.Client(base_url=stack.api_url, headers=stack.auth_headers, timeout=10) as api:
            yield api
    finally:
        stack.stop()


def submit_url(api: httpx.Client, url: str) -> str:
    response = api.post("/v1/jobs", json={"source": {"url": url}})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_crafted_url_source_fails_without_following_its_references(
    case: tuple[str, str],
    url_api: httpx.Client,
    site: Site,
    trap: LoopbackTrap,
    sentinel: OpenWatch,
) -> None:
    kind, disguise = case
    # a local manifest may open local files by ffmpeg's own defaults (and no http): the
    # old code turned the sentinel into this job's poster and preview
    references = [f"file:{sentinel.path}"]
    url = site.serve(f"{kind}-{time.monotonic_ns()}.{disguise}", payload(case, references))
    hits, opens = trap.hits, sentinel.count()
    record = wait_for_job(url_api, submit_url(url_api, url), timeout=120)
    assert_failed_untouched(record, trap, sentinel, hits, opens)
