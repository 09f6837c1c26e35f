"""Where a processing step puts what it makes. The core only knows this protocol;
``heavylift.storage.s3`` implements it over S3, tests implement it over a dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from heavylift.jobs.models import OutputEntry


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


OutputWriter = Callable[
    [Writable], object
]  # writes one output's bytes; its return value is ignored


class OutputSink(Protocol):
    def write(
        self,
        name: str,
        content_type: str,
        produce: OutputWriter,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> OutputEntry:
        """Run ``produce`` against a writable, store the bytes as ``name``, describe them."""
        ...


def write_json(sink: OutputSink, name: str, document: BaseModel) -> OutputEntry:
    """A pydantic document (metadata, manifest) as an indented JSON output."""
    data = document.model_dump_json(indent=2).encode()
    return sink.write(name, "application/json", lambda out: out.write(data))
