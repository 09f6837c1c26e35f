"""The operator's commands over the core: upload files, follow and show jobs, dead letters.

``heavylift`` itself is composed in ``infra.cli``, which adds the commands that run things
(``worker``, ``dev``, ``demo``); nothing here starts a process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heavylift.cli.console import console, record_table, results_table
from heavylift.config import get_settings

jobs_app = typer.Typer(help="Inspect jobs.")


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


@jobs_app.command("show")
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
