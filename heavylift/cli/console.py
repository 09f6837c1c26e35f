"""Terminal rendering shared by the CLI and the demo (rich tables and progress bars)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from heavylift.jobs.models import JobRecord, JobState

# Piped output (CI logs, `make demo | tee`) gets a width that fits a job table.
console = Console(width=None if sys.stdout.isatty() else 180)

STATE_STYLES = {
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red",
    JobState.DEAD: "red",
    JobState.RUNNING: "yellow",
    JobState.QUEUED: "cyan",
}


def bytes_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    )


def jobs_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def state_text(record: JobRecord | None) -> str:
    if record is None:
        return "[red]not found[/]"
    return f"[{STATE_STYLES.get(record.state, 'white')}]{record.state.value}[/]"


def job_seconds(record: JobRecord | None) -> str:
    if record is None or record.finished_at is None:
        return "-"
    return f"{(record.finished_at - record.created_at).total_seconds():.2f}s"


def outputs_text(record: JobRecord | None) -> str:
    if record is None:
        return ""
    if record.error is not None and record.state is not JobState.SUCCEEDED:
        return f"[red]{record.error.code}[/]: {record.error.message[:60]}"
    names = [entry.key.split("/", 1)[-1] for entry in record.outputs]
    return ", ".join(name for name in names if name != "manifest.json") + (
        " + manifest" if "manifest.json" in names else ""
    )


def results_table(rows: list[tuple[str, str, JobRecord | None]]) -> Table:
    """rows: (source name, job id, record)."""
    table = Table(title="Heavylift jobs")
    for column in ("source", "job id", "queue", "state", "outputs", "time"):
        table.add_column(column, overflow="fold")
    for source, job_id, record in rows:
        queue = record.queue if record else "-"
        table.add_row(
            source, job_id, queue, state_text(record), outputs_text(record), job_seconds(record)
        )
    return table


def record_table(record: JobRecord) -> Table:
    table = Table(show_header=False, title=f"job {record.job_id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("state", state_text(record))
    table.add_row("source", record.source.uri)
    table.add_row("origin", record.origin.value)
    table.add_row("queue", record.queue)
    table.add_row("attempts", str(record.attempts))
    table.add_row("created", str(record.created_at))
    table.add_row("started", str(record.started_at or "-"))
    table.add_row("finished", str(record.finished_at or "-"))
    for error in record.errors:
        table.add_row(f"error #{error.attempt}", f"{error.code}: {error.message}")
    for entry in record.outputs:
        size = f"{entry.width}×{entry.height} " if entry.width else ""
        table.add_row("output", f"{entry.key} ({size}{entry.bytes} B, {entry.content_type})")
    return table
