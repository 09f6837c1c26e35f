"""Open a job's source for streaming, wherever it lives.

* An S3 object streams straight from its GetObject body; ffmpeg, when it must seek, reads
  it through a presigned URL.
* A URL source (a client's ``https`` link) is downloaded through ``heavylift.net.safe_http``
  (SSRF rules, byte and time caps) into a temporary file first, then read from there. ffmpeg
  is never handed the client's URL: it would resolve and follow redirects on its own, past
  every check. When it must seek it gets the spool file's absolute path instead, and opens
  it with only the ``file`` protocol allowed (``heavylift.media.ffmpeg_input``). Disk use is
  bounded by ``max_source_bytes``; memory stays flat.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Protocol

from heavylift.config import Settings
from heavylift.jobs.models import S3Location, UrlSource
from heavylift.net.safe_http import UrlPolicy, open_url
from heavylift.storage.s3 import open_object, presigned_get_url

COPY_CHUNK = 1024 * 1024


class Reader(Protocol):
    size: int

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class OpenedSource:
    reader: Reader
    size: int
    seekable_url: Callable[[], str]  # what ffmpeg may open when it must seek: URL or path


class _FileReader:
    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self.size = size

    def read(self, size: int = -1, /) -> bytes:
        return self._file.read(size if size and size > 0 else COPY_CHUNK)


@contextmanager
def open_source(
    source: S3Location | UrlSource, s3: Any, settings: Settings
) -> Iterator[OpenedSource]:
    if isinstance(source, UrlSource):
        with _downloaded(source, settings) as opened:
            yield opened
        return
    with open_object(s3, source, settings.max_source_bytes) as reader:
        yield OpenedSource(
            reader=reader,
            size=reader.size,
            seekable_url=lambda: presigned_get_url(s3, source, settings.max_job_seconds + 600),
        )


@contextmanager
def _downloaded(source: UrlSource, settings: Settings) -> Iterator[OpenedSource]:
    policy = UrlPolicy.from_settings(settings)
    with tempfile.NamedTemporaryFile(prefix="heavylift-source-") as spool:
        with open_url(source.url, policy) as remote:
            shutil.copyfileobj(remote, spool, COPY_CHUNK)  # type: ignore[misc]
        size = spool.tell()
        spool.seek(0)
        yield OpenedSource(_FileReader(spool, size), size, lambda: os.path.abspath(spool.name))
