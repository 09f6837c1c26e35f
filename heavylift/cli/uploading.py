"""The interactive upload flow shared by ``heavylift upload`` and the demo: upload with a
byte progress bar, then (optionally) follow the jobs with a job progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from heavylift.cli.api_client import JobsClient, upload_files
from heavylift.cli.console import bytes_progress, jobs_progress
from heavylift.config import Settings
from heavylift.jobs.models import JobRecord

Row = tuple[str, str, JobRecord | None]


def upload_and_follow(
    settings: Settings,
    paths: Sequence[Path],
    *,
    prefix: str = "",
    wait: bool = True,
    timeout: float = 300,
) -> list[Row]:
    total = sum(path.stat().st_size for path in paths)
    with bytes_progress() as progress:
        task = progress.add_task(f"uploading {len(paths)} file(s)", total=total)
        uploads = upload_files(
            settings, paths, prefix, on_bytes=lambda n: progress.advance(task, n)
        )
    records: dict[str, JobRecord | None] = {u.job_id: None for u in uploads}
    if wait:
        client = JobsClient.from_settings(settings)
        try:
            with jobs_progress() as progress:
                task = progress.add_task("processing", total=len(uploads))
                records = client.wait(
                    [u.job_id for u in uploads], timeout, on_final=lambda _: progress.advance(task)
                )
        finally:
            client.close()
    return [(u.path.name, u.job_id, records.get(u.job_id)) for u in uploads]
