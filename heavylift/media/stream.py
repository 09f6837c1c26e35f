"""A forward-only byte stream that can peek at its head and hashes what passes through.

Sniffing and probing need the first bytes before the decoder sees them; the manifest needs
the source's sha256 without a second read. Both happen here, in one pass. Peeked bytes are
held in memory, so a peek is capped (``MAX_PEEK_BYTES``), and both peeking and reading the
peeked bytes back cost time linear in their size, whatever the read sizes.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from heavylift.errors import TooLarge

MAX_PEEK_BYTES = 4 * 1024 * 1024


class RawReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class SourceStream:
    def __init__(self, raw: RawReader, max_bytes: int, chunk_bytes: int = 256 * 1024) -> None:
        self._raw = raw
        self._head = bytearray()  # peeked, not yet read; consumed from ``_head_at``
        self._head_at = 0
        self._max_bytes = max_bytes
        self._chunk_bytes = chunk_bytes
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.failure: Exception | None = None

    def peek(self, size: int) -> bytes:
        """Up to ``size`` (at most ``MAX_PEEK_BYTES``) bytes from the current position,
        without consuming them."""
        size = min(size, MAX_PEEK_BYTES)
        if self._head_at:  # compact once, so the buffer never holds consumed bytes
            del self._head[: self._head_at]
            self._head_at = 0
        while len(self._head) < size:
            chunk = self._raw_read(size - len(self._head))
            if not chunk:
                break
            self._head += chunk
        return bytes(self._head[:size])

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._chunk_bytes
        if self._head_at < len(self._head):
            out = bytes(self._head[self._head_at : self._head_at + size])
            self._head_at += len(out)
            if self._head_at == len(self._head):
                self._head = bytearray()
                self._head_at = 0
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
