"""Sources for the chaos benchmark: small photos, short audio clips, and corrupt JPEGs
(the first third of a photo) whose jobs must fail permanently and end as dead letters.
They are uploaded straight to moto, before any chaos starts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.inputs import make_inputs

AUDIO_FORMATS = ("mp3", "m4a", "wav", "flac")


@dataclass(frozen=True)
class Source:
    key: str
    kind: str  # "image", "audio" or "corrupt"
    path: Path

    @property
    def corrupt(self) -> bool:
        return self.kind == "corrupt"


def make_sources(
    directory: Path, images: int = 24, audio: int = 4, corrupt: int = 3, size: str = "640x480"
) -> list[Source]:
    from infra.samples import write_audio

    width, height = (int(v) for v in size.lower().split("x"))
    sources = [
        Source(f"chaos/{path.name}", "image", path)
        for path in make_inputs(directory / "images", images, width, height, first_seed=3000)
    ]
    for i in range(audio):
        fmt = AUDIO_FORMATS[i % len(AUDIO_FORMATS)]
        path = write_audio(directory / "audio", fmt, seconds=2, name=f"clip-{i}")
        sources.append(Source(f"chaos/{path.name}", "audio", path))
    whole = make_inputs(directory / "whole", corrupt, width, height, prefix="bad", first_seed=900)
    for i, path in enumerate(whole):
        truncated = directory / f"corrupt-{i}.jpg"
        data = path.read_bytes()
        truncated.write_bytes(data[: len(data) // 3])  # decoders call this corrupt_media
        sources.append(Source(f"chaos/{truncated.name}", "corrupt", truncated))
    return sources


def upload_sources(s3: Any, bucket: str, sources: list[Source]) -> None:
    for source in sources:
        s3.put_object(Bucket=bucket, Key=source.key, Body=source.path.read_bytes())


def enable_versioning(s3: Any, bucket: str) -> None:
    """So a manifest written twice shows up as two versions (a rewrite, not a new object)."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def plan_jobs(sources: list[Source], jobs: int, seed: int) -> list[Source]:
    """Which source each job gets: every source about equally often, in a seeded order."""
    picks = [sources[i % len(sources)] for i in range(jobs)]
    random.Random(seed).shuffle(picks)
    return picks
