"""``heavylift worker``: supervised worker processes (``actors.supervisor``)."""

from __future__ import annotations

from typing import Annotated

import typer

from heavylift.config import get_settings
from heavylift.queue.names import Queue


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
    from actors.supervisor import Supervisor, WorkerPlan  # not at import: the CLI stays light
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
