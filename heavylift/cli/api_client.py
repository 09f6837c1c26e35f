"""What the CLI and the demo do as a user would: put files in the uploads bucket, then
follow the jobs those uploads become through the HTTP API."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from boto3.s3.transfer import TransferConfig

from heavylift.config import Settings
from heavylift.jobs.identity import default_spec, s3_job_id
from heavylift.jobs.models import JobRecord, S3Location
from heavylift.jobs.upload_events import normalize_etag
from heavylift.net.credentials import split_client
from heavylift.storage.s3 import s3_client, translate_s3_errors


@dataclass(frozen=True)
class Upload:
    path: Path
    location: S3Location
    job_id: str
    started: float


def upload_file(
    s3: Any, settings: Settings, path: Path, key: str, on_bytes: Callable[[int], None] | None = None
) -> Upload:
    """Upload ``path`` and predict its job id from the stored version (as the producer will)."""
    started = time.monotonic()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    size = path.stat().st_size
    bucket = settings.uploads_bucket
    with translate_s3_errors(f"uploading {path}"):
        if size < settings.multipart_threshold_bytes:
            with open(path, "rb") as body:  # one request; its response names the version
                stored = s3.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentLength=size, ContentType=content_type
                )
            if on_bytes:
                on_bytes(size)
        else:  # multipart, with byte-level progress; the version comes from a HEAD
            s3.upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Callback=on_bytes,
                Config=TransferConfig(
                    multipart_threshold=settings.multipart_threshold_bytes,
                    multipart_chunksize=settings.multipart_threshold_bytes,
                ),
            )
            stored = s3.head_object(Bucket=bucket, Key=key)
    location = S3Location(
        bucket=bucket,
        key=key,
        version_id=stored.get("VersionId") or None,
        etag=normalize_etag(stored.get("ETag")),
    )
    return Upload(path, location, s3_job_id(location, default_spec(settings)), started)


def upload_files(
    settings: Settings,
    paths: Iterable[Path],
    prefix: str = "",
    on_bytes: Callable[[int], None] | None = None,
) -> list[Upload]:
    s3 = s3_client(settings)
    prefix = prefix or settings.uploads_prefix
    return [upload_file(s3, settings, path, f"{prefix}{path.name}", on_bytes) for path in paths]


class JobsClient:
    """The part of the HTTP API the CLI needs."""

    def __init__(self, api_url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=api_url, timeout=timeout, headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsClient:
        """The API at ``api_url``, with the first operator key (uploads' jobs are theirs to
        read), else the first API key."""
        entries = settings.operator_keys or settings.api_keys
        key = split_client(entries[0].get_secret_value())[1] if entries else None
        return cls(settings.api_url, key)

    def get(self, job_id: str) -> JobRecord | None:
        response = self.http.get(f"/v1/jobs/{job_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return JobRecord.model_validate(response.json())

    def wait(
        self,
        job_ids: list[str],
        timeout: float,
        on_final: Callable[[JobRecord], None] | None = None,
        poll_interval: float = 0.2,
    ) -> dict[str, JobRecord | None]:
        """Poll until every job is final or ``timeout`` passes; return the last records seen."""
        latest: dict[str, JobRecord | None] = dict.fromkeys(job_ids)
        pending = set(job_ids)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for job_id in sorted(pending):
                record = self.get(job_id)
                latest[job_id] = record
                if record is not None and record.state.is_final:
                    pending.discard(job_id)
                    if on_final:
                        on_final(record)
            if pending:
                time.sleep(poll_interval)
        return latest

    def close(self) -> None:
        self.http.close()
