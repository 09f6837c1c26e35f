"""S3 as streams, on moto's in-process mock: outputs land intact, inputs read in chunks,
and S3 failures become the typed errors the retry policy depends on."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws

from heavylift.config import Settings
from heavylift.errors import AccessDenied, NotFound, StorageUnavailable, TooLarge
from heavylift.jobs.models import S3Location
from heavylift.media.sink import Writable
from heavylift.storage.output_sink import S3OutputSink
from heavylift.storage.s3 import ObjectReader, open_object, s3_client, translate_s3_errors

UPLOADS, RESULTS = "unit-uploads", "unit-results"
MiB = 1024 * 1024


def make_settings(**overrides: Any) -> Settings:
    return Settings(
        _env_file=None,
        aws_access_key_id="testing",  # type: ignore[call-arg]
        aws_secret_access_key="testing",
        **overrides,
    )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client on moto's in-process S3 with both buckets; the uploads bucket is versioned."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        client = s3_client(make_settings())
        client.create_bucket(Bucket=UPLOADS)
        client.create_bucket(Bucket=RESULTS)
        client.put_bucket_versioning(Bucket=UPLOADS, VersioningConfiguration={"Status": "Enabled"})
        yield client


def chunks_of(data: bytes, size: int = MiB) -> Any:
    def produce(out: Writable) -> None:
        for start in range(0, len(data), size):
            out.write(data[start : start + size])

    return produce


def stored(s3: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    response = s3.get_object(Bucket=RESULTS, Key=key)
    return response["Body"].read(), response


def test_write_stores_bytes_type_and_hash(s3: Any) -> None:
    data = b'{"hello": "world"}'
    sink = S3OutputSink(s3, RESULTS, "job1/", make_settings())
    entry = sink.write(
        "metadata.json", "application/json", chunks_of(data, 5), width=None, height=None
    )
    body, response = stored(s3, "job1/metadata.json")
    assert body == data
    assert response["ContentType"] == "application/json"
    assert response["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert (entry.key, entry.bytes, entry.sha256, entry.content_type) == (
        "job1/metadata.json",
        len(data),
        hashlib.sha256(data).hexdigest(),
        "application/json",
    )


def test_write_reports_dimensions(s3: Any) -> None:
    sink = S3OutputSink(s3, RESULTS, "job2", make_settings())
    entry = sink.write(
        "thumb-256.webp", "image/webp", chunks_of(b"RIFF....WEBP"), width=256, height=192
    )
    assert (entry.key, entry.width, entry.height) == ("job2/thumb-256.webp", 256, 192)
    assert stored(s3, "job2/thumb-256.webp")[1]["ContentType"] == "image/webp"


def test_large_output_is_uploaded_in_parts_and_hash_still_matches(s3: Any) -> None:
    """Big outputs spill to disk and go up as a multipart upload, bytes intact."""
    settings = make_settings(multipart_threshold_bytes=5 * MiB, spool_memory_bytes=1024)
    data = os.urandom(12 * MiB)
    entry = S3OutputSink(s3, RESULTS, "big", settings).write(
        "video.bin", "application/octet-stream", chunks_of(data)
    )
    body, response = stored(s3, "big/video.bin")
    assert response["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB
    assert hashlib.sha256(body).hexdigest() == entry.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.bytes == len(data) == response["ContentLength"]


def test_small_output_is_a_single_put(s3: Any) -> None:
    settings = make_settings(multipart_threshold_bytes=5 * MiB, spool_memory_bytes=1024)
    S3OutputSink(s3, RESULTS, "small", settings).write(
        "a.bin", "application/octet-stream", chunks_of(os.urandom(64 * 1024))
    )
    assert "-" not in stored(s3, "small/a.bin")[1]["ETag"]


def test_failing_producer_stores_nothing(s3: Any) -> None:
    """A half-encoded thumbnail must never appear under the job's results."""

    def produce(out: Writable) -> None:
        out.write(b"partial")
        raise RuntimeError("encoder died")

    with pytest.raises(RuntimeError):
        S3OutputSink(s3, RESULTS, "broken", make_settings()).write("t.webp", "image/webp", produce)
    assert s3.list_objects_v2(Bucket=RESULTS, Prefix="broken/")["KeyCount"] == 0


def test_open_object_reads_in_chunks(s3: Any) -> None:
    data = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=UPLOADS, Key="in/photo.jpg", Body=data)
    location = S3Location(bucket=UPLOADS, key="in/photo.jpg")
    parts = []
    with open_object(s3, location, max_bytes=len(data)) as reader:
        while part := reader.read(100_000):
            assert len(part) <= 100_000
            parts.append(part)
    assert len(parts) > 30
    assert b"".join(parts) == data


def test_read_without_size_is_bounded(s3: Any) -> None:
    """read() never pulls a multi-GB object into memory at once."""
    data = os.urandom(MiB)
    s3.put_object(Bucket=UPLOADS, Key="in/raw.bin", Body=data)
    with open_object(s3, S3Location(bucket=UPLOADS, key="in/raw.bin"), MiB) as reader:
        first = reader.read()
        assert 0 < len(first) <= 256 * 1024
        rest = b"".join(iter(reader.read, b""))
    assert first + rest == data


def test_open_object_reads_the_requested_version(s3: Any) -> None:
    """A job for version 1 must process version 1 even after the key was overwritten."""
    first = s3.put_object(Bucket=UPLOADS, Key="in/v.jpg", Body=b"version one")
    s3.put_object(Bucket=UPLOADS, Key="in/v.jpg", Body=b"version two!")
    location = S3Location(bucket=UPLOADS, key="in/v.jpg", version_id=first["VersionId"])
    with open_object(s3, location, max_bytes=100) as reader:
        assert reader.read(100) == b"version one"


@pytest.mark.parametrize(
    "location",
    [S3Location(bucket=UPLOADS, key="missing.jpg"), S3Location(bucket="no-such-bucket", key="a")],
    ids=["key", "bucket"],
)
def test_missing_object_is_not_found(s3: Any, location: S3Location) -> None:
    """Permanent: a job for a deleted upload fails at once instead of retrying for days."""
    with pytest.raises(NotFound) as info, open_object(s3, location, max_bytes=MiB):
        pass
    assert not info.value.transient


def test_object_over_the_limit_is_too_large(s3: Any) -> None:
    s3.put_object(Bucket=UPLOADS, Key="in/huge.tif", Body=b"x" * 2048)
    location = S3Location(bucket=UPLOADS, key="in/huge.tif")
    with pytest.raises(TooLarge), open_object(s3, location, max_bytes=2047):
        pass
    with open_object(s3, location, max_bytes=2048) as reader:
        assert len(reader.read(4096)) == 2048


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("NoSuchKey", 404), NotFound),
        (client_error("NoSuchVersion", 404), NotFound),
        (client_error("", 404), NotFound),
        (client_error("AccessDenied", 403), AccessDenied),
        (client_error("InvalidObjectState", 403), AccessDenied),
        (client_error("InternalError", 500), StorageUnavailable),
        (client_error("SlowDown", 503), StorageUnavailable),
        (client_error("RequestTimeout", 400), StorageUnavailable),
        (EndpointConnectionError(endpoint_url="http://s3.invalid"), StorageUnavailable),
        (ConnectionResetError("reset by peer"), StorageUnavailable),
    ],
)
def test_s3_errors_are_typed(exc: Exception, expected: type[Exception]) -> None:
    """Transient failures retry, permanent ones fail at once: the type decides."""
    with pytest.raises(expected), translate_s3_errors("reading s3://b/k"):
        raise exc


class FlakyBody:
    def read(self, size: int = -1) -> bytes:
        raise ReadTimeoutError(endpoint_url="http://s3.invalid")

    def close(self) -> None:
        pass


def test_errors_mid_read_are_transient() -> None:
    """A connection lost half-way through a download is worth a retry."""
    reader = ObjectReader(FlakyBody(), S3Location(bucket=UPLOADS, key="k"), size=4096)
    with pytest.raises(StorageUnavailable) as info:
        reader.read(1024)
    assert info.value.transient


@pytest.mark.parametrize("fails", [False, True], ids=["uploaded", "producer-failed"])
def test_spool_files_never_outlive_the_write(
    s3: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """Outputs past the memory limit spill to a temp file, which is removed either way."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings = make_settings(multipart_threshold_bytes=5 * MiB, spool_memory_bytes=1024)

    def produce(out: Writable) -> None:
        out.write(os.urandom(6 * MiB))
        assert list(tmp_path.glob("heavylift-out-*"))  # it did spill to disk
        if fails:
            raise RuntimeError("encoder died")

    sink = S3OutputSink(s3, RESULTS, f"spool-{fails}", settings)
    if fails:
        with pytest.raises(RuntimeError):
            sink.write("v.bin", "application/octet-stream", produce)
    else:
        assert sink.write("v.bin", "application/octet-stream", produce).bytes == 6 * MiB
    assert list(tmp_path.glob("heavylift-out-*")) == []
