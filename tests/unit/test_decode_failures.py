"""A failure while *reading* the source is not a broken file: it must keep its own type, so
that a lost S3 connection is retried instead of failing the job as ``corrupt_media``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from heavylift.errors import CorruptMedia, StorageUnavailable, TooLarge
from heavylift.media.image import decode_image
from heavylift.media.stream import SourceStream
from infra.samples import write_sample


class FlakyBody:
    """Serves ``good_bytes`` of the file, then fails like a dropped S3 connection."""

    def __init__(self, data: bytes, good_bytes: int) -> None:
        self.data = io.BytesIO(data)
        self.good_bytes = good_bytes

    def read(self, size: int = -1, /) -> bytes:
        if self.data.tell() >= self.good_bytes:
            raise StorageUnavailable("connection reset while reading")
        return self.data.read(min(size, self.good_bytes - self.data.tell()))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_a_read_failure_mid_stream_stays_a_storage_error(suffix: str, tmp_path: Path) -> None:
    data = write_sample(tmp_path / f"a{suffix}", 1200, 900).read_bytes()
    stream = SourceStream(FlakyBody(data, len(data) // 3), max_bytes=10**9)
    with pytest.raises(StorageUnavailable):
        decode_image(stream, 1024, 10**8)


def test_a_truly_truncated_file_is_corrupt(tmp_path: Path) -> None:
    data = write_sample(tmp_path / "a.jpg", 1200, 900).read_bytes()
    stream = SourceStream(io.BytesIO(data[: len(data) // 3]), max_bytes=10**9)
    with pytest.raises(CorruptMedia):
        decode_image(stream, 1024, 10**8)


def test_the_byte_limit_is_reported_as_too_large_while_streaming(tmp_path: Path) -> None:
    data = write_sample(tmp_path / "a.png", 1200, 900).read_bytes()
    with pytest.raises(TooLarge):
        decode_image(SourceStream(io.BytesIO(data), max_bytes=len(data) // 2), 1024, 10**8)
