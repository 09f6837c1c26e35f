"""Which S3 objects producers may turn into jobs: one set of rules for every way in.

A worker reads whatever its credentials can read, so the producers decide what it may be
asked to read: webhook jobs only from the allowed source buckets, and upload events (the
HTTP intake and the Lambda handler alike) only from those buckets and under the uploads
prefix. Without these checks any API key could aim the workers at any bucket.
"""

from __future__ import annotations

from heavylift.config import Settings
from heavylift.errors import BucketNotAllowed, KeyNotAllowed
from heavylift.jobs.models import S3Location


def check_source_bucket(bucket: str, settings: Settings) -> None:
    if bucket not in settings.allowed_source_buckets:
        raise BucketNotAllowed(f"bucket {bucket!r} is not one this deployment reads")


def check_upload(location: S3Location, settings: Settings) -> None:
    """An upload event's object: in an allowed bucket, under the uploads prefix."""
    check_source_bucket(location.bucket, settings)
    if not location.key.startswith(settings.uploads_prefix):
        raise KeyNotAllowed(f"only keys under {settings.uploads_prefix!r} become jobs")
