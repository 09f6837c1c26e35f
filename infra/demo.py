"""``make demo``: start the stack, upload sample media the way a user would, show results."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from heavylift.cli.console import console, results_table
from heavylift.cli.uploading import upload_and_follow
from heavylift.config import DEV_ENV_FILE, Settings
from infra.devstack import REPO_DIR, LocalStack, run_until_stopped
from infra.samples import demo_samples, write_audio, write_video

CORPUS_SAMPLES = (
    "exif-orientation/Landscape_6.jpg",
    "pngsuite/basn6a16.png",
    "pngsuite/xcsn0g01.png",
)


def prepare_samples(directory: Path) -> list[Path]:
    """Generated images in every accepted format, a phone video, a screen recording and a
    podcast clip, plus a rotated photo and a corrupt PNG from the test corpora (to show that
    bad input fails with a named error)."""
    paths = demo_samples(directory)
    paths.append(
        write_video(directory, "mov", seconds=4, size="1280x720", rotation=-90, name="IMG_0042")
    )  # a phone video held upright, moov at the end
    paths.append(write_video(directory, "webm", seconds=3, name="screen-recording"))
    paths.append(write_audio(directory, "mp3", seconds=5, name="podcast-intro"))
    for name in CORPUS_SAMPLES:
        source = REPO_DIR / "tests" / "data" / name
        if source.exists():
            target = directory / source.name
            shutil.copyfile(source, target)
            paths.append(target)
    return paths


def run_demo(state_dir: Path, *, exit_after: bool) -> int:
    console.print("[bold]Heavylift demo[/]: generating samples …")
    samples = prepare_samples(state_dir / "samples")
    console.print("starting the local stack (redis, moto S3+SQS, SQS poller, API, 2 workers) …")
    stack = LocalStack(state_dir / "demo").start()
    env_file = Path(DEV_ENV_FILE)
    wrote_env = not env_file.exists()
    try:
        if wrote_env:
            stack.write_env_file(env_file)
        os.environ.update(stack.env)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        rows = upload_and_follow(settings, samples, wait=True, timeout=180)
        console.print(results_table(rows))
        console.print(
            f"API: [bold]{stack.api_url}[/]  e.g. curl -H 'Authorization: Bearer "
            f"{stack.api_key}' {stack.api_url}/v1/jobs/{rows[0][1]}",
            soft_wrap=True,
        )
        results = f"s3://{settings.results_bucket}/<job id>/"
        console.print(f"S3 (moto): {stack.s3_endpoint_url}  results in {results}")
        unfinished = [r for r in rows if r[2] is None or not r[2].state.is_final]
        if exit_after:
            return 1 if unfinished else 0
        console.print("[green]stack running[/]; Ctrl-C to stop")
        run_until_stopped(stack)
        return 0
    finally:
        stack.stop()
        if wrote_env:
            env_file.unlink(missing_ok=True)
