"""``heavylift``: run workers and the local stack, upload files, inspect jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from heavylift.cli.console import console, record_table, results_table
from heavylift.cli.dlq import dlq_app
from heavylift.config import DEV_ENV_FILE, get_settings
from heavylift.queue.names import Queue

app = typer.Typer(help="Heavylift: media pipeline on Dramatiq over Redis.", no_args_is_help=True)
dev = typer.Typer(help="The local stack: redis, moto (S3+SQS), SQS poller, API, workers.")
jobs = typer.Typer(help="Inspect jobs.")
app.add_typer(dev, name="dev")
app.add_typer(jobs, name="jobs")
app.add_typer(dlq_app, name="dlq")

STATE_DIR = Path(".heavylift")
PID_FILE = STATE_DIR / "supervisor.pid"


@app.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 0,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 0,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queues",
            "-Q",
            help="Only these queues: image, video, audio, callbacks (repeat or comma-separate).",
        ),
    ] = None,
    modules: Annotated[
        list[str] | None,
        typer.Option("--import", help="Also load the actors of this module (repeatable)."),
    ] = None,
) -> None:
    """Run supervised worker processes: a crashed one is replaced, its jobs requeued."""
    from actors.supervisor import Supervisor, WorkerPlan
    from heavylift.logs import configure_logging

    settings = get_settings()
    queues = [q.strip() for item in queues or [] for q in item.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(Queue))
    if unknown and not modules:  # extra actor modules may declare queues of their own
        raise typer.BadParameter(f"unknown queue(s) {', '.join(unknown)}", param_hint="--queues")
    configure_logging(settings.log_format, settings.log_level)
    plan = WorkerPlan(
        processes=processes or settings.worker_processes,
        threads=threads or settings.worker_threads,
        queues=tuple(queues),
        modules=tuple(modules or ()),
    )
    raise typer.Exit(Supervisor(settings, plan).run())


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
def upload(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Files to upload.")
    ],
    wait: Annotated[bool, typer.Option("--wait", help="Follow each job to its end.")] = False,
    prefix: Annotated[str, typer.Option(help="Key prefix in the uploads bucket.")] = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the jobs.")] = 300,
) -> None:
    """Put files into the uploads bucket; the S3 event path makes the jobs."""
    from heavylift.cli.uploading import upload_and_follow

    rows = upload_and_follow(get_settings(), paths, prefix=prefix, wait=wait, timeout=timeout)
    console.print(results_table(rows))
    if wait and any(r is None or r.state.value != "succeeded" for _, _, r in rows):
        raise typer.Exit(1)


@jobs.command("show")
def jobs_show(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw record.")] = False,
) -> None:
    """Print a job record."""
    from heavylift.cli.api_client import JobsClient

    record = JobsClient.from_settings(get_settings()).get(job_id)
    if record is None:
        console.print(f"[red]no job {job_id}[/]")
        raise typer.Exit(1)
    if as_json:
        typer.echo(record.model_dump_json(indent=2))
    else:
        console.print(record_table(record))


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
        [sys.executable, "-m", "heavylift", "dev", "up", "--processes", str(processes)],
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
