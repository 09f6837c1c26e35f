"""Video and audio uploads through the real stack (S3 events, Redis, workers on the
image, video and audio queues, ffmpeg reading pipes or presigned URLs from moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from heavylift.config import Settings
from heavylift.jobs.models import JobState
from infra.samples import AUDIO_FORMATS, VIDEO_CONTAINERS, write_audio, write_video
from tests.integration.conftest import read_manifest, upload, wait_for_job
from tests.unit.media_helpers import decodes_cleanly, top_level_boxes

pytestmark = pytest.mark.integration


def names(job_id: str, keys: list[str]) -> set[str]:
    return {key.removeprefix(f"{job_id}/") for key in keys}


@pytest.mark.parametrize("container", sorted(VIDEO_CONTAINERS))
def test_video_upload_gets_poster_preview_and_metadata(
    container: str, tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    source = write_video(tmp_path, container, seconds=2)
    job_id = upload(s3, settings, source, f"video/{container}{source.suffix}")
    record = wait_for_job(api, job_id, timeout=120)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.queue == "video" and record.media_kind == "video" and record.progress == 1.0
    manifest = read_manifest(s3, settings.results_bucket, job_id)
    assert names(job_id, [o.key for o in manifest.outputs]) == {
        "poster.jpg",
        "thumb-256.webp",
        "thumb-1024.webp",
        "preview.mp4",
        "metadata.json",
    }
    preview = s3.get_object(Bucket=settings.results_bucket, Key=f"{job_id}/preview.mp4")[
        "Body"
    ].read()
    assert len(preview) <= source.stat().st_size
    assert top_level_boxes(preview)[:2] == ["ftyp", "moov"] and decodes_cleanly(preview, tmp_path)
    metadata = json.loads(
        s3.get_object(Bucket=settings.results_bucket, Key=f"{job_id}/metadata.json")["Body"].read()
    )
    assert metadata["duration_s"] == pytest.approx(2, abs=0.1)
    assert (metadata["width"], metadata["height"]) == (640, 360)


def test_phone_video_with_rotation_is_upright(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    source = write_video(tmp_path, "mov", seconds=2, rotation=-90, name="IMG_0001")
    job_id = upload(s3, settings, source, "video/IMG_0001.MOV")
    record = wait_for_job(api, job_id, timeout=120)
    assert record.state is JobState.SUCCEEDED, record.error
    poster = next(o for o in record.outputs if o.key.endswith("poster.jpg"))
    preview = next(o for o in record.outputs if o.key.endswith("preview.mp4"))
    assert (poster.width, poster.height) == (360, 640)
    assert (preview.width, preview.height) == (360, 640)
    assert record.media is not None and record.media.rotation == 90  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_audio_upload_gets_preview_waveform_and_metadata(
    fmt: str, tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    source = write_audio(tmp_path, fmt, seconds=2)
    job_id = upload(s3, settings, source, f"audio/{fmt}{source.suffix}")
    record = wait_for_job(api, job_id, timeout=120)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.queue == "audio"
    manifest = read_manifest(s3, settings.results_bucket, job_id)
    assert names(job_id, [o.key for o in manifest.outputs]) == {
        "preview.mp3",
        "waveform.json",
        "metadata.json",
    }
    waveform = json.loads(
        s3.get_object(Bucket=settings.results_bucket, Key=f"{job_id}/waveform.json")["Body"].read()
    )
    assert waveform["version"] == 2 and waveform["length"] > 300


def test_a_video_named_like_a_photo_moves_to_the_video_queue(
    tmp_path: Path, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    source = write_video(tmp_path, "webm", seconds=1)
    job_id = upload(s3, settings, source, "mislabelled/holiday.jpg")  # the name says image
    record = wait_for_job(api, job_id, timeout=120)
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.queue == "video" and record.media_kind == "video"
    assert any(o.key.endswith("preview.mp4") for o in record.outputs)
