"""S3 as streams: the client, a reader over GetObject's body, presigned URLs, typed errors.

Reads never hold the whole object: the body is consumed in chunks by the decoder. botocore
errors are translated into Heavylift's typed errors so the retry policy can tell "try again"
from "give up". Writing outputs is ``heavylift.storage.output_sink``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from heavylift.config import Settings
from heavylift.errors import AccessDenied, HeavyliftError, NotFound, StorageUnavailable, TooLarge
from heavylift.jobs.models import S3Location

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
