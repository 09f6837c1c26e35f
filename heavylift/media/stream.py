"""A forward-only byte stream that can peek at its head and hashes what passes through.

Sniffing needs the first bytes before the decoder sees them; the manifest needs the
source's sha256 without a second read. Both happen here, in one pass, in constant memory.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from heavylift.errors import TooLarge


class RawReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class SourceStream:
    def __init__(self, raw: RawReader, max_bytes: int, chunk_bytes: int = 256 * 1024) -> None:
        self._raw = raw
        self._head = b""
        self._max_bytes = max_bytes
        self._chunk_bytes = chunk_bytes
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.failure: Exception | None = None

    def peek(self, size: int) -> bytes:
        """Up to ``size`` bytes from the current position, without consuming them."""
        while len(self._head) < size:
            chunk = self._raw_read(size - len(self._head))
            if not chunk:
                break
            self._head += chunk
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._chunk_bytes
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._raw_read(size)

    def read_for_decoder(self, size: int) -> bytes:
        """``read`` for a libvips read callback, which must not raise.

        libvips swallows a callback's exception and reports a truncated file instead, which
        would turn "S3 connection lost" or "over the byte limit" into "corrupt". So the real
        error is kept in ``failure`` for the caller to re-raise, and the decoder sees EOF.
        """
        try:
            return self.read(size)
        except Exception as exc:  # noqa: BLE001 (kept, re-raised by the caller)
            self.failure = exc
            return b""

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def drain(self) -> None:
        """Read to the end so the hash covers the whole object (decoders may stop early)."""
        while self.read(self._chunk_bytes):
            pass

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def _raw_read(self, size: int) -> bytes:
        chunk = self._raw.read(size)
        if chunk:
            self.bytes_read += len(chunk)
            self._sha256.update(chunk)
            if self.bytes_read > self._max_bytes:
                raise TooLarge(f"source is larger than the {self._max_bytes}-byte limit")
        return chunk
