"""A job's outputs into S3: spooled while they are made, hashed, then uploaded.

Outputs are written into a spooled temporary file (memory up to ``spool_memory_bytes``, then
disk) while their sha256 is computed, and uploaded in parts when large, so worker memory does
not grow with the output. This implements the processing core's ``OutputSink`` protocol: the
only storage module that knows about ``heavylift.media``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from typing import IO, Any

from boto3.s3.transfer import TransferConfig

from heavylift.config import Settings
from heavylift.jobs.models import OutputEntry
from heavylift.media.sink import OutputWriter
from heavylift.storage.s3 import translate_s3_errors


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
