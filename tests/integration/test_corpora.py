"""The PngSuite and EXIF-orientation corpora through the whole stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from heavylift.config import Settings
from heavylift.jobs.models import JobState
from tests.conftest import EXIF_ORIENTATION, PNGSUITE
from tests.integration.conftest import upload, wait_for_job

pytestmark = pytest.mark.integration

PNG_FILES = sorted(PNGSUITE.glob("*.png"))
CORRUPT = [p for p in PNG_FILES if p.name.startswith("x")]
VALID = [p for p in PNG_FILES if not p.name.startswith("x")]


def upload_all(s3: Any, settings: Settings, paths: list[Path], prefix: str) -> dict[str, str]:
    return {path.name: upload(s3, settings, path, f"{prefix}/{path.name}") for path in paths}


def test_corpus_sizes_are_what_the_tests_assume() -> None:
    assert len(VALID) > 140 and len(CORRUPT) == 14


def test_every_valid_pngsuite_file_thumbnails(
    s3: Any, settings: Settings, api: httpx.Client
) -> None:
    jobs = upload_all(s3, settings, VALID, "pngsuite-valid")
    failures = {}
    for name, job_id in jobs.items():
        record = wait_for_job(api, job_id, timeout=120)
        if record.state is not JobState.SUCCEEDED or len(record.outputs) != 4:
            failures[name] = (record.state, record.error)
    assert failures == {}


def test_every_corrupt_pngsuite_file_fails_with_a_named_error(
    s3: Any, settings: Settings, api: httpx.Client
) -> None:
    jobs = upload_all(s3, settings, CORRUPT, "pngsuite-corrupt")
    outcomes = {}
    for name, job_id in jobs.items():
        record = wait_for_job(api, job_id, timeout=120)
        outcomes[name] = (
            record.state,
            record.error.code if record.error else None,
            record.attempts,
        )
    assert outcomes == {name: (JobState.FAILED, "corrupt_media", 1) for name in jobs}


def thumbnail(s3: Any, settings: Settings, job_id: str) -> pyvips.Image:
    body = s3.get_object(Bucket=settings.results_bucket, Key=f"{job_id}/thumb-256.webp")["Body"]
    return pyvips.Image.new_from_buffer(body.read(), "")


def difference(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a - b).abs().avg()) if (a.width, a.height) == (b.width, b.height) else 255.0


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
def test_every_orientation_example_comes_out_upright(
    kind: str, s3: Any, settings: Settings, api: httpx.Client
) -> None:
    paths = sorted(EXIF_ORIENTATION.glob(f"{kind}_*.jpg"))
    jobs = upload_all(s3, settings, paths, f"exif-{kind.lower()}")
    thumbs = {}
    for name, job_id in jobs.items():
        assert wait_for_job(api, job_id).state is JobState.SUCCEEDED, name
        thumbs[name] = thumbnail(s3, settings, job_id)
    reference = thumbs[f"{kind}_0.jpg"]  # orientation 1: stored upright
    assert (reference.width > reference.height) == (kind == "Landscape")
    # the comparison can tell a wrong rotation from the right one ...
    assert difference(reference, reference.rot180()) > 40
    # ... and every example, whatever its EXIF orientation, matches the upright one
    diffs = {name: round(difference(reference, thumb), 1) for name, thumb in thumbs.items()}
    assert all(d < 8 for d in diffs.values()), diffs
