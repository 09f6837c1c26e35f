"""The Lambda producers stay thin: importing them loads neither libvips nor ffmpeg, and every
project module they import is inside the package ``serverless.yml`` deploys."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).parents[2]
# (heavylift.media.sink is only the output protocol, which storage implements: light.)
HEAVY = (
    "pyvips",
    "imageio_ffmpeg",
    "heavylift.jobs.runner",
    "heavylift.media.process",
    "heavylift.media.image",
    "heavylift.media.video",
    "heavylift.media.audio",
    "heavylift.media.ffmpeg",
)


def imported_by_producers() -> list[str]:
    code = (
        "import json, sys, functions.http, functions.s3_events;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def test_producers_do_not_load_the_media_stack() -> None:
    loaded = imported_by_producers()
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_every_module_producers_import_is_packaged() -> None:
    patterns = yaml.safe_load((REPO / "serverless.yml").read_text())["package"]["patterns"]
    include = [p for p in patterns if not p.startswith("!")]
    ours = [
        m
        for m in imported_by_producers()
        if m.split(".")[0] in ("heavylift", "functions", "actors")
    ]
    missing = []
    for module in ours:
        path = module.replace(".", "/")
        candidates = [f"{path}.py", f"{path}/__init__.py"]
        existing = [c for c in candidates if (REPO / c).exists()]
        if existing and not any(fnmatch.fnmatch(existing[0], p) for p in include):
            missing.append(existing[0])
    assert missing == []
