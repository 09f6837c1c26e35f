"""S3 as streams: a reader over GetObject's body, a sink that spools and uploads outputs.

Reads never hold the whole object: the body is consumed in chunks by the decoder. Outputs
are written into a spooled temporary file (memory up to ``spool_memory_bytes``, then disk)
while their sha256 is computed, and uploaded in parts when large. botocore errors are
translated into Heavylift's typed errors so the retry policy can tell "try again" from
"give up".
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from heavylift.config import Settings
from heavylift.errors import AccessDenied, HeavyliftError, NotFound, StorageUnavailable, TooLarge
from heavylift.jobs.models import OutputEntry, S3Location
from heavylift.media.sink import OutputWriter

NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound"}
DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidObjectState"}


def s3_client(settings: Settings) -> Any:
    """One client per process: botocore clients are thread-safe and pool connections."""
    secret = settings.aws_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
        ),
    )


@contextmanager
def translate_s3_errors(what: str) -> Iterator[None]:
    try:
        yield
    except HeavyliftError:
        raise
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        detail = f"{what}: {code} {error.get('Message', '')}".strip()
        if code in NOT_FOUND_CODES or status == 404:
            raise NotFound(detail) from exc
        if code in DENIED_CODES or status == 403:
            raise AccessDenied(detail) from exc
        raise StorageUnavailable(detail) from exc  # 5xx, throttling, and the unknown
    except (BotoCoreError, OSError) as exc:
        raise StorageUnavailable(f"{what}: {exc}") from exc


class ObjectReader:
    """A file-like view of an object's body whose reads raise typed errors."""

    def __init__(self, body: Any, location: S3Location, size: int) -> None:
        self._body = body
        self._location = location
        self.size = size

    def read(self, size: int = -1, /) -> bytes:
        with translate_s3_errors(f"reading {self._location.uri}"):
            return self._body.read(size if size and size > 0 else 256 * 1024)

    def close(self) -> None:
        self._body.close()


@contextmanager
def open_object(client: Any, location: S3Location, max_bytes: int) -> Iterator[ObjectReader]:
    """Open one object version for streaming; fail early if its size is over the limit."""
    params: dict[str, str] = {"Bucket": location.bucket, "Key": location.key}
    if location.version_id:
        params["VersionId"] = location.version_id
    with translate_s3_errors(f"opening {location.uri}"):
        response = client.get_object(**params)
    size = int(response.get("ContentLength") or 0)
    if size > max_bytes:
        response["Body"].close()
        raise TooLarge(f"{location.uri} is {size} bytes, limit is {max_bytes}")
    reader = ObjectReader(response["Body"], location, size)
    try:
        yield reader
    finally:
        reader.close()


def presigned_get_url(client: Any, location: S3Location, expires_s: int) -> str:
    """A URL ffmpeg can read with range requests (for containers that need seeking)."""
    params = {"Bucket": location.bucket, "Key": location.key}
    if location.version_id:
        params["VersionId"] = location.version_id
    with translate_s3_errors(f"signing a URL for {location.uri}"):
        return str(client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s))


class _HashingSpool:
    """The writable handed to producers: keeps small outputs in memory and moves larger ones
    to a named temporary file, hashing every byte as it arrives.

    A *named* file matters: s3transfer given a path reads each part from disk as it sends it,
    while given a file object it reads parts into memory ahead of the uploads.
    """

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.buffer: io.BytesIO | None = io.BytesIO()
        self.file: IO[bytes] | None = None
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.sha256.update(data)
        self.size += len(data)
        if self.buffer is not None and self.size > self.memory_bytes:
            self.file = tempfile.NamedTemporaryFile(prefix="heavylift-out-", delete=False)  # noqa: SIM115
            self.file.write(self.buffer.getbuffer())
            self.buffer = None
        target = self.buffer if self.buffer is not None else self.file
        assert target is not None
        return target.write(data)

    @property
    def path(self) -> str | None:
        """The spool file once the output outgrew memory (closed for reading by path)."""
        if self.file is None:
            return None
        self.file.close()
        return self.file.name

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            os.unlink(self.file.name)


class S3OutputSink:
    """Writes a job's outputs under ``<prefix>/`` in one bucket (implements ``OutputSink``)."""

    def __init__(self, client: Any, bucket: str, prefix: str, settings: Settings) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.rstrip("/")
        self.memory_bytes = settings.spool_memory_bytes
        self.transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold_bytes,
            multipart_chunksize=settings.multipart_threshold_bytes,
            max_concurrency=2,  # parts in flight, each read from the spool file as it is sent
        )

    def write(
        self,
        name: str,
        content_type: str,
        produce: OutputWriter,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> OutputEntry:
        key = f"{self.prefix}/{name}"
        spool = _HashingSpool(self.memory_bytes)
        try:
            produce(spool)
            digest = spool.sha256.hexdigest()
            extra = {"ContentType": content_type, "Metadata": {"sha256": digest}}
            with translate_s3_errors(f"writing s3://{self.bucket}/{key}"):
                self._upload(spool, key, extra)
        finally:
            spool.discard()
        return OutputEntry(
            key=key,
            bytes=spool.size,
            sha256=digest,
            content_type=content_type,
            width=width,
            height=height,
        )

    def _upload(self, spool: _HashingSpool, key: str, extra: dict[str, Any]) -> None:
        path = spool.path
        if path is None:  # small: one request from memory
            assert spool.buffer is not None
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=spool.buffer.getvalue(), **extra
            )
        elif spool.size < self.transfer.multipart_threshold:  # one request, streamed from disk
            with open(path, "rb") as body:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentLength=spool.size, **extra
                )
        else:  # multipart; s3transfer reads each part from the file as it sends it
            self.client.upload_file(path, self.bucket, key, Config=self.transfer, ExtraArgs=extra)
