"""The ``heavylift`` command as an operator runs it, in its own process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from infra.devstack import REPO_DIR, LocalStack
from infra.processes import HEAVYLIFT_COMMAND, pid_alive
from infra.samples import write_sample

pytestmark = pytest.mark.integration


def heavylift(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HEAVYLIFT_COMMAND, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAVYLIFT_")}
    env.update({"PYTHONPATH": str(REPO_DIR), "COLUMNS": "200", **(extra or {})})
    return env


def test_upload_wait_follows_jobs_and_jobs_show_prints_them(
    stack: LocalStack, tmp_path: Path
) -> None:
    good = write_sample(tmp_path / "cli-photo.jpg", 1200, 900, seed=31)
    bad = tmp_path / "cli-broken.png"
    bad.write_bytes((REPO_DIR / "tests/data/pngsuite/xd0n2c08.png").read_bytes())
    env = cli_env(stack.env)

    done = heavylift(
        "upload", str(good), str(bad), "--wait", "--prefix", "cli/", env=env, cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr  # one of the two failed, and the exit code says so
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if "cli-" in line}
    assert "succeeded" in lines["cli-photo.jpg"] and "thumb-1024.webp" in lines["cli-photo.jpg"]
    assert "failed" in lines["cli-broken.png"] and "corrupt_media" in lines["cli-broken.png"]

    job_id = lines["cli-photo.jpg"].split()[3]
    shown = heavylift("jobs", "show", job_id, "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f'"job_id": "{job_id}"' in shown.stdout and '"state": "succeeded"' in shown.stdout
    missing = heavylift("jobs", "show", "jnope", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "no job" in missing.stdout


def test_dev_up_detach_writes_endpoints_and_dev_down_stops_everything(tmp_path: Path) -> None:
    env = cli_env()
    up = heavylift("dev", "up", "--detach", "--processes", "1", env=env, cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    values = dict(
        line.split("=", 1)
        for line in (tmp_path / ".heavylift/dev.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    supervisor = int((tmp_path / ".heavylift/supervisor.pid").read_text())
    try:
        assert httpx.get(f"{values['HEAVYLIFT_API_URL']}/healthz").json() == {"status": "ok"}
        # the CLI in that directory now talks to that stack without any exported variable
        show = heavylift("jobs", "show", "jmissing", env=env, cwd=tmp_path)
        assert "no job jmissing" in show.stdout
        again = heavylift("dev", "up", "--detach", env=env, cwd=tmp_path)
        assert again.returncode == 1 and "already running" in again.stdout
    finally:
        down = heavylift("dev", "down", env=env, cwd=tmp_path)
    assert down.returncode == 0 and "stack stopped" in down.stdout
    assert not (tmp_path / ".heavylift/dev.env").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{values['HEAVYLIFT_API_URL']}/healthz", timeout=2)
    assert not pid_alive(supervisor)
