"""Waveform data in audiowaveform's JSON format (version 2): per pixel, the min and max
sample of ``samples_per_pixel`` mono samples, as 8- or 16-bit signed values.

Samples arrive as a stream of 16-bit little-endian PCM; only the min/max pairs are kept
(4 hours of 44.1 kHz audio at 256 samples per pixel is 2.5 M pairs, ~5 MB at 8 bits).
"""

from __future__ import annotations

import sys
from array import array
from typing import IO

from heavylift.media.sink import Writable

JSON_CHUNK = 8192


class WaveformBuilder:
    def __init__(self, sample_rate: int, samples_per_pixel: int = 256, bits: int = 8) -> None:
        self.sample_rate = sample_rate
        self.samples_per_pixel = samples_per_pixel
        self.bits = bits
        self.data = array("h")  # min, max, min, max, …
        self._pending = array("h")
        self._odd_byte = b""

    def feed(self, pcm: bytes) -> None:
        pcm = self._odd_byte + pcm
        usable = len(pcm) - len(pcm) % 2
        self._odd_byte = pcm[usable:]
        samples = array("h")
        samples.frombytes(pcm[:usable])
        if sys.byteorder == "big":
            samples.byteswap()
        self._pending.extend(samples)
        whole = len(self._pending) - len(self._pending) % self.samples_per_pixel
        self._reduce(self._pending[:whole])
        del self._pending[:whole]

    def consume(self, pipe: IO[bytes]) -> None:
        """Read a PCM pipe to its end (what ffmpeg's side output is handed to)."""
        while chunk := pipe.read(256 * 1024):
            self.feed(chunk)
        self.finish()

    def finish(self) -> None:
        if self._pending:
            self._reduce(self._pending)
            self._pending = array("h")

    @property
    def length(self) -> int:
        return len(self.data) // 2

    def write_json(self, out: Writable) -> None:
        header = (
            f'{{"version":2,"channels":1,"sample_rate":{self.sample_rate},'
            f'"samples_per_pixel":{self.samples_per_pixel},"bits":{self.bits},'
            f'"length":{self.length},"data":['
        )
        out.write(header.encode())
        shift = 8 if self.bits == 8 else 0
        for start in range(0, len(self.data), JSON_CHUNK):
            values = (v >> shift for v in self.data[start : start + JSON_CHUNK])
            text = ",".join(map(str, values))
            out.write((("," if start else "") + text).encode())
        out.write(b"]}")

    def _reduce(self, samples: array[int]) -> None:
        step = self.samples_per_pixel
        for start in range(0, len(samples), step):
            window = samples[start : start + step]
            self.data.append(min(window))
            self.data.append(max(window))
