"""``heavylift``: the command, composed. The operator's commands come from ``heavylift.cli``,
``worker`` from ``actors.cli``, and the commands that run the local stack live here.

Installed as the ``heavylift`` script; ``python -m infra.cli`` runs the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer

from actors.cli import worker
from heavylift.cli.console import console
from heavylift.cli.dlq import dlq_app
from heavylift.cli.jobs import jobs_app, upload
from heavylift.config import DEV_ENV_FILE
from infra.processes import HEAVYLIFT_COMMAND

app = typer.Typer(help="Heavylift: media pipeline on Dramatiq over Redis.", no_args_is_help=True)
dev = typer.Typer(help="The local stack: redis, moto (S3+SQS), SQS poller, API, workers.")
app.command()(worker)
app.command()(upload)
app.add_typer(jobs_app, name="jobs")
app.add_typer(dlq_app, name="dlq")
app.add_typer(dev, name="dev")

STATE_DIR = Path(".heavylift")
PID_FILE = STATE_DIR / "supervisor.pid"


@dev.command("up")
def dev_up(
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 2,
) -> None:
    """Start the local stack and write its endpoints to .heavylift/dev.env."""
    if _running_supervisor() is not None:
        console.print(
            f"[yellow]already running[/] (pid {_running_supervisor()}); see {DEV_ENV_FILE}"
        )
        raise typer.Exit(1)
    if detach:
        _detach(processes)
        return
    from infra.devstack import LocalStack, run_until_stopped

    stack = LocalStack(STATE_DIR, worker_processes=processes).start()
    stack.write_env_file(Path(DEV_ENV_FILE))
    PID_FILE.write_text(str(os.getpid()))
    console.print(
        f"[green]stack up[/]  API {stack.api_url}  S3 {stack.s3_endpoint_url}  "
        f"Redis {stack.redis_url}\nendpoints in {DEV_ENV_FILE}; Ctrl-C to stop"
    )
    try:
        run_until_stopped(stack)
    finally:
        PID_FILE.unlink(missing_ok=True)
        Path(DEV_ENV_FILE).unlink(missing_ok=True)


@dev.command("down")
def dev_down() -> None:
    """Stop a stack started with ``dev up --detach``."""
    pid = _running_supervisor()
    if pid is None:
        console.print("no stack running")
        return
    from infra.processes import pid_alive

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        console.print(f"[red]supervisor {pid} still running after 30 s[/]")
        raise typer.Exit(1)
    console.print("[green]stack stopped[/]")


@app.command()
def demo(
    exit_after: Annotated[bool, typer.Option("--exit", help="Stop after the table.")] = False,
) -> None:
    """Start the stack, process sample media, print the results (what `make demo` runs)."""
    from infra.demo import run_demo

    raise typer.Exit(run_demo(STATE_DIR, exit_after=exit_after))


def _running_supervisor() -> int | None:
    from infra.processes import pid_alive

    try:
        pid = int(PID_FILE.read_text())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _detach(processes: int) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    log = open(STATE_DIR / "supervisor.log", "ab")  # noqa: SIM115 (handed to the child)
    child = subprocess.Popen(
        [*HEAVYLIFT_COMMAND, "dev", "up", "--processes", str(processes)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            console.print(f"[red]stack failed to start[/]; see {STATE_DIR / 'supervisor.log'}")
            raise typer.Exit(1)
        if Path(DEV_ENV_FILE).exists() and _running_supervisor() == child.pid:
            console.print(f"[green]stack up[/] (pid {child.pid}); endpoints in {DEV_ENV_FILE}")
            console.print(Path(DEV_ENV_FILE).read_text())
            return
        time.sleep(0.2)
    console.print("[red]stack did not come up in 60 s[/]")
    raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
