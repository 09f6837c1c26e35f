"""Upload to the uploads bucket → S3 event → SQS → poller → handler → Redis → worker →
thumbnails, metadata.json and manifest.json in the results bucket. All real processes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from heavylift.config import Settings
from heavylift.jobs.models import JobState, S3Location
from infra.devstack import LocalStack
from infra.samples import write_sample
from tests.integration.conftest import read_manifest, upload, wait_for_job

pytestmark = pytest.mark.integration

FORMATS = ["jpg", "png", "webp", "gif", "tif", "avif"]


def get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_accepted_format_gets_thumbnails_metadata_and_manifest(
    suffix: str, tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    path = write_sample(tmp_path / f"sample.{suffix}", 1600, 1200, seed=7)
    job_id = upload(s3, settings, path, f"formats/sample.{suffix}")
    record = wait_for_job(api, job_id)
    assert record.state is JobState.SUCCEEDED, record.error

    manifest = read_manifest(s3, settings.results_bucket, job_id)
    by_name = {entry.key.removeprefix(f"{job_id}/"): entry for entry in manifest.outputs}
    assert set(by_name) == {"thumb-256.webp", "thumb-1024.webp", "metadata.json"}
    assert manifest.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for name, entry in by_name.items():
        stored = get_bytes(s3, settings.results_bucket, entry.key)
        assert len(stored) == entry.bytes and hashlib.sha256(stored).hexdigest() == entry.sha256
        if name.endswith(".webp"):
            thumb = pyvips.Image.new_from_buffer(stored, "")
            assert thumb.get("vips-loader") == "webpload_buffer"
            assert (thumb.width, thumb.height) == (entry.width, entry.height)
            assert thumb.width == int(name.split("-")[1].split(".")[0])
            assert thumb.height == thumb.width * 3 // 4
            assert not {"exif-data", "icc-profile-data", "xmp-data"} & set(thumb.get_fields())

    metadata = json.loads(get_bytes(s3, settings.results_bucket, f"{job_id}/metadata.json"))
    assert metadata["width"] == 1600 and metadata["height"] == 1200
    assert metadata["sha256"] == manifest.source_sha256
    assert metadata["format"] == {"jpg": "jpeg", "tif": "tiff"}.get(suffix, suffix)
    # the job record and the manifest agree, and the manifest is listed last
    assert [o.key for o in record.outputs][-1] == f"{job_id}/manifest.json"
    assert {o.key for o in record.outputs[:-1]} == {o.key for o in manifest.outputs}


def test_small_images_are_never_upscaled(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    path = write_sample(tmp_path / "small.png", 300, 200, seed=3, alpha=True)
    job_id = upload(s3, settings, path, "small/small.png")
    assert wait_for_job(api, job_id).state is JobState.SUCCEEDED
    sizes = {}
    for entry in read_manifest(s3, settings.results_bucket, job_id).outputs:
        if entry.key.endswith(".webp"):
            thumb = pyvips.Image.new_from_buffer(
                get_bytes(s3, settings.results_bucket, entry.key), ""
            )
            sizes[entry.key.rsplit("/", 1)[1]] = (thumb.width, thumb.height)
            assert thumb.hasalpha()  # transparency survives
    assert sizes == {"thumb-256.webp": (256, 171), "thumb-1024.webp": (300, 200)}


def test_non_image_upload_fails_with_unsupported_media(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    path = tmp_path / "notes.jpg"  # the name lies; the bytes decide
    path.write_text("just some text, not a picture\n" * 50)
    record = wait_for_job(api, upload(s3, settings, path, "misc/notes.jpg"))
    assert record.state is JobState.FAILED
    assert record.error is not None and record.error.code == "unsupported_media"
    assert record.attempts == 1  # permanent: not retried
    listing = s3.list_objects_v2(Bucket=settings.results_bucket, Prefix=f"{record.job_id}/")
    assert listing.get("KeyCount", 0) == 0  # no manifest, no partial outputs advertised


def test_duplicate_s3_event_is_the_same_job(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client, stack: LocalStack
) -> None:
    path = write_sample(tmp_path / "dup.jpg", 640, 480, seed=11)
    job_id = upload(s3, settings, path, "dup/my photo+1.jpg")
    first = wait_for_job(api, job_id)
    assert first.state is JobState.SUCCEEDED
    assert isinstance(first.source, S3Location)
    assert first.source.key == "dup/my photo+1.jpg"  # quote_plus'd in the event, decoded here
    head = s3.head_object(Bucket=settings.uploads_bucket, Key="dup/my photo+1.jpg")
    redelivery = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": settings.uploads_bucket},
                    "object": {
                        "key": "dup/my+photo%2B1.jpg",
                        "size": path.stat().st_size,
                        "eTag": head["ETag"].strip('"'),
                    },
                },
            }
        ]
    }
    response = api.post("/v1/events/s3", json=redelivery, headers=stack.event_headers)
    assert response.status_code == 202
    assert response.json()["jobs"] == [job_id]
    again = wait_for_job(api, job_id)
    assert again.attempts == 1 and again.state is JobState.SUCCEEDED


def test_overwriting_an_object_is_a_new_job(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    first = upload(s3, settings, write_sample(tmp_path / "a.jpg", 500, 400, seed=1), "same/key.jpg")
    second = upload(
        s3, settings, write_sample(tmp_path / "b.jpg", 400, 500, seed=2), "same/key.jpg"
    )
    assert first != second
    assert wait_for_job(api, second).state is JobState.SUCCEEDED
    metadata = json.loads(get_bytes(s3, settings.results_bucket, f"{second}/metadata.json"))
    assert (metadata["width"], metadata["height"]) == (400, 500)
