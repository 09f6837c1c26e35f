"""``heavylift dlq``: list, show, replay and purge dead letters (``heavylift.queue.dead_letters``).

A thin shell over the core functions: parse options into a ``Selector``, render the result.
Redis being unreachable is an operator's everyday problem, not a bug: one red line, exit 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import redis
import typer
from rich.markup import escape
from rich.table import Table

from heavylift.cli.console import console, jobs_progress
from heavylift.config import get_settings
from heavylift.errors import BrokerUnavailable
from heavylift.moments import parse_moment
from heavylift.queue import dead_letters as dlq
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN
from heavylift.state.store import JobStore

dlq_app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)

IdsArg = Annotated[
    list[str] | None, typer.Argument(help="Message ids (Dramatiq's or the Redis one).")
]
QueueOpt = Annotated[str | None, typer.Option("--queue", help="Only this queue.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Only this actor.")]
ErrorOpt = Annotated[
    str | None, typer.Option("--error", help="An error code, or text in the error message.")
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Dead for at most 90s, 15m, 2h, 7d; or since an ISO time."),
]
JobOpt = Annotated[str | None, typer.Option("--job", help="Only this job id.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every dead letter.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass(frozen=True)
class Dlq:
    """What every command needs: a client, the key layout, the job store."""

    client: redis.Redis
    layout: Layout
    store: JobStore


@contextmanager
def dead_letters() -> Iterator[Dlq]:
    """Connect from settings; turn an unreachable Redis into one red line and exit code 2."""
    settings = get_settings()
    store = JobStore.from_settings(settings)
    try:
        yield Dlq(store.client, store.layout, store)
    except (BrokerUnavailable, *REDIS_DOWN) as exc:
        text = str(exc) if isinstance(exc, BrokerUnavailable) else f"Redis unavailable: {exc}"
        console.print(f"[red]{escape(text)}[/]", soft_wrap=True)
        raise typer.Exit(2) from None


def parse_since(text: str, now: datetime | None = None) -> datetime | None:
    """``--since``: see ``heavylift.moments``."""
    try:
        return parse_moment(text, now)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def parse_rate(text: str | None) -> float | None:
    """``5/s`` or ``5``: replays per second."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/s)?\s*", text)
    if not match or float(match[1]) <= 0:
        raise typer.BadParameter(f"{text!r} is not a rate like 5/s", param_hint="--rate")
    return float(match[1])


def selector(
    ids: list[str] | None,
    queue: str | None,
    actor: str | None,
    error: str | None,
    since: str | None,
    job: str | None,
    everything: bool = False,
) -> dlq.Selector:
    return dlq.Selector(
        ids=ids or [],
        queue=queue,
        actor=actor,
        error=error,
        since=parse_since(since) if since else None,
        job=job,
        all=everything,
    )


@dlq_app.command("list")
def list_command(
    queue: QueueOpt = None,
    actor: ActorOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    job: JobOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters, oldest first."""
    chosen = selector(None, queue, actor, error, since, job)
    with dead_letters() as d:
        letters = dlq.list_dead_letters(d.client, d.layout, d.store, chosen)
    if as_json:
        typer.echo(json.dumps([letter.model_dump(mode="json") for letter in letters], indent=2))
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "queue", "actor", "job", "dead at (UTC)", "retries", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        problem = f"[red]{letter.error_code}[/]: {escape((letter.error_message or '')[:80])}"
        table.add_row(
            letter.id,
            letter.queue,
            escape(letter.actor),
            letter.job_id or "-",
            letter.dead_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(letter.retries),
            problem if letter.error_code else "-",
        )
    console.print(table)


@dlq_app.command("show")
def show_command(
    letter_id: Annotated[str, typer.Argument(help="Message id (Dramatiq's or the Redis one).")],
    as_json: JsonOpt = False,
) -> None:
    """One dead letter: the message, its arguments, every attempt's error and traceback."""
    with dead_letters() as d:
        detail = dlq.get_dead_letter(d.client, d.layout, d.store, letter_id)
    if detail is None:
        console.print(f"[red]no dead letter {escape(letter_id)}[/]")
        raise typer.Exit(1)
    if as_json:
        typer.echo(detail.model_dump_json(indent=2))
        return
    letter, record = detail.letter, detail.record
    table = Table(show_header=False, title=f"dead letter {letter.id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in (
        ("redis id", letter.redis_message_id),
        ("queue", letter.queue),
        ("actor", letter.actor),
        ("job", letter.job_id or "-"),
        ("dead at", letter.dead_at.isoformat()),
        ("retries", str(letter.retries)),
        ("options", json.dumps(letter.message.get("options") or {})),
        ("state", record.state.value if record else "no job record"),
        ("replays", str(record.replays) if record else "-"),
        ("error", f"{letter.error_code}: {letter.error_message}" if letter.error_code else "-"),
    ):
        table.add_row(name, escape(value))
    console.print(table)
    arguments = {"args": letter.message.get("args"), "kwargs": letter.message.get("kwargs")}
    console.print("[bold]arguments[/]")
    typer.echo(json.dumps(arguments, indent=2) if letter.decodable else letter.raw)
    for attempt in record.errors if record else []:
        kind = "transient" if attempt.transient else "permanent"
        console.print(
            f"\n[bold]attempt {attempt.attempt}[/] [red]{attempt.code}[/] ({kind}, "
            f"{attempt.at:%Y-%m-%d %H:%M:%S}): {escape(attempt.message)}"
        )
        if attempt.traceback:
            typer.echo(attempt.traceback.rstrip())


@dlq_app.command("replay")
def replay_command(
    ids: IdsArg = None,
    queue: QueueOpt = None,
    actor: ActorOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    job: JobOpt = None,
    everything: AllOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    rate: Annotated[str | None, typer.Option("--rate", help="At most this many, e.g. 5/s.")] = None,
) -> None:
    """Put dead letters back on their queues, retries reset; safe to re-run after a crash."""
    chosen = selector(ids, queue, actor, error, since, job, everything)
    per_second = parse_rate(rate)
    with dead_letters() as d:
        letters = _select(d, chosen)
        with jobs_progress() as progress:
            task = progress.add_task("replaying" if not dry_run else "dry run", total=len(letters))
            report = dlq.replay(
                d.client,
                d.layout,
                d.store,
                letters,
                rate_per_s=per_second,
                dry_run=dry_run,
                on_each=lambda _letter, _outcome: progress.advance(task),
            )
    verb = "would replay" if dry_run else "replayed"
    _summary(f"{verb} {len(report.replayed)}", report.skipped, chosen.missing(letters))
    if dry_run and report.replayed:
        console.print("dry run: nothing changed; would replay " + ", ".join(report.replayed))
    if chosen.missing(letters):
        raise typer.Exit(1)


@dlq_app.command("purge")
def purge_command(
    ids: IdsArg = None,
    queue: QueueOpt = None,
    actor: ActorOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    job: JobOpt = None,
    everything: AllOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters for good (job records keep their history)."""
    chosen = selector(ids, queue, actor, error, since, job, everything)
    with dead_letters() as d:
        letters = _select(d, chosen)
        missing = chosen.missing(letters)
        if letters and not yes and not typer.confirm(f"Purge {len(letters)} dead letter(s)?"):
            console.print("nothing purged")
            raise typer.Exit(1)
        report = dlq.purge(d.client, d.layout, d.store, letters)
    _summary(f"purged {len(report.purged)}", report.skipped, missing)
    if missing:
        raise typer.Exit(1)


def _select(d: Dlq, chosen: dlq.Selector) -> list[dlq.DeadLetter]:
    try:
        return dlq.select_dead_letters(d.client, d.layout, d.store, chosen)
    except dlq.EmptySelector:
        console.print(
            "[red]say which dead letters: IDs, a filter (--queue, --actor, --error, "
            "--since, --job) or --all[/]"
        )
        raise typer.Exit(2) from None


def _summary(done: str, skipped: list[dlq.Outcome], missing: list[str]) -> None:
    console.print(f"[green]{done}[/], skipped {len(skipped)}")
    for outcome in skipped:
        console.print(f"  skipped {outcome.id}: {outcome.reason}")
    for letter_id in missing:
        console.print(f"  [red]not found: {escape(letter_id)}[/]")
