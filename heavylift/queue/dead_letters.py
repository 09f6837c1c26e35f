"""Dead letters: list, inspect, replay and purge what Dramatiq dead-lettered.

Core functions shared by ``heavylift dlq``, the API and the dashboard. Dead letters live in
Dramatiq's own keys (``<queue>.XQ`` + ``<queue>.XQ.msgs``, see ``heavylift.state.keys``);
their history (every attempt's error and traceback) lives in the job record. Each replay or
purge of one letter is a single Lua script, so a crash between letters leaves every letter
either still dead or queued exactly once, and running the command again finishes the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field, ValidationError, field_validator

from heavylift.errors import BrokerUnavailable, InvalidMessage
from heavylift.jobs.lifecycle import record_replay
from heavylift.jobs.models import JobMessage, JobRecord, JobState
from heavylift.queue import wire
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN, as_text
from heavylift.state.scripts import script
from heavylift.state.store import JobStore

CHUNK = 500
UNKNOWN_ACTOR = "?"


class EmptySelector(ValueError):
    """Replay and purge must be told which letters: an empty selector never means all."""


class DeadLetter(BaseModel):
    """One dead-lettered message, as an operator needs to see it."""

    id: str = Field(description="Dramatiq's message_id, the id logs print.")
    redis_message_id: str
    queue: str
    actor: str
    job_id: str | None = None
    dead_at: datetime
    retries: int = 0
    error_code: str | None = None
    error_message: str | None = None
    decodable: bool = True
    message: dict[str, Any] = Field(default_factory=dict)
    raw: str = Field(default="", exclude=True, repr=False)  # the bytes as stored, for CAS


class DeadLetterDetail(BaseModel):
    """A letter plus its job record, whose ``errors`` hold every attempt and traceback."""

    letter: DeadLetter
    record: JobRecord | None = None


class Selector(BaseModel):
    """Which letters an operation applies to; every given criterion must match."""

    ids: list[str] = Field(default_factory=list)
    queue: str | None = None
    actor: str | None = None
    error: str | None = None  # an error code, or text in the error message
    since: datetime | None = None  # dead-lettered at or after this time
    job: str | None = None
    all: bool = False

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    @property
    def is_empty(self) -> bool:
        criteria = (self.queue, self.actor, self.error, self.since, self.job)
        return not (self.ids or self.all or any(c is not None for c in criteria))

    def require(self) -> None:
        if self.is_empty:
            raise EmptySelector("name the dead letters: ids, a filter, or all")

    def matches(self, letter: DeadLetter) -> bool:
        return self._matches_listed(letter) and self._matches_error(letter)

    def missing(self, letters: Iterable[DeadLetter]) -> list[str]:
        """The explicit ids that matched none of ``letters``."""
        found = {key for letter in letters for key in (letter.id, letter.redis_message_id)}
        return [i for i in self.ids if i not in found]

    def _matches_listed(self, letter: DeadLetter) -> bool:
        """Everything but the error, which needs the job record."""
        return (
            (not self.ids or letter.id in self.ids or letter.redis_message_id in self.ids)
            and self.queue in (None, letter.queue)
            and self.actor in (None, letter.actor)
            and self.job in (None, letter.job_id)
            and (self.since is None or letter.dead_at >= self.since)
        )

    def _matches_error(self, letter: DeadLetter) -> bool:
        if self.error is None:
            return True
        text = (letter.error_message or "").lower()
        return letter.error_code == self.error or self.error.lower() in text


class Outcome(BaseModel):
    """What happened to one letter; also handed to ``on_each`` (to advance a progress bar)."""

    id: str
    action: Literal["replayed", "purged", "skipped"]
    reason: str | None = None


class ReplayReport(BaseModel):
    dry_run: bool = False
    replayed: list[str] = Field(default_factory=list)
    skipped: list[Outcome] = Field(default_factory=list)


class PurgeReport(BaseModel):
    purged: list[str] = Field(default_factory=list)
    skipped: list[Outcome] = Field(default_factory=list)


OnEach = Callable[[DeadLetter, Outcome], None]


def list_dead_letters(
    client: redis.Redis, layout: Layout, store: JobStore, selector: Selector | None = None
) -> list[DeadLetter]:
    """Every dead letter that ``selector`` matches (all without one), oldest first."""
    selector = selector or Selector()
    with _redis_errors():
        letters = [
            letter
            for queue in _dead_queues(client, layout, selector.queue)
            for letter in _read_queue(client, layout, queue)
            if selector._matches_listed(letter)
        ]
        _attach_errors(client, store, letters)
    letters.sort(key=lambda letter: (letter.dead_at, letter.queue))
    return [letter for letter in letters if selector._matches_error(letter)]


def select_dead_letters(
    client: redis.Redis, layout: Layout, store: JobStore, selector: Selector
) -> list[DeadLetter]:
    """The letters for a replay or purge; raises ``EmptySelector`` rather than mean all."""
    selector.require()
    return list_dead_letters(client, layout, store, selector)


def get_dead_letter(
    client: redis.Redis, layout: Layout, store: JobStore, letter_id: str
) -> DeadLetterDetail | None:
    """One letter by message_id or redis_message_id, with its job record."""
    found = list_dead_letters(client, layout, store, Selector(ids=[letter_id]))
    if not found:
        return None
    record = store.get(found[0].job_id) if found[0].job_id else None
    return DeadLetterDetail(letter=found[0], record=record)


def replay(
    client: redis.Redis,
    layout: Layout,
    store: JobStore,
    letters: Iterable[DeadLetter],
    *,
    rate_per_s: float | None = None,
    dry_run: bool = False,
    on_each: OnEach | None = None,
) -> ReplayReport:
    """Put letters back on their queues with retries reset, each in one atomic move."""
    move = script(client, "replay_dead_letter")
    report = ReplayReport(dry_run=dry_run)
    interval = 1.0 / rate_per_s if rate_per_s else 0.0
    next_move = time.monotonic()
    for letter in letters:
        with _redis_errors():
            before = store.get(letter.job_id) if letter.job_id else None
        reason = _replay_obstacle(letter, before)
        if reason is None and not dry_run:
            time.sleep(max(0.0, next_move - time.monotonic()))
            next_move = max(next_move, time.monotonic() - interval) + interval
            q, rid = layout.queue(letter.queue), letter.redis_message_id
            keys = [q.dead, q.dead_messages, q.messages, q.waiting, layout.deliveries(rid)]
            with _redis_errors():
                fresh = wire.replay_of(letter.message, letter.queue)
                moved = move(keys=keys, args=[rid, fresh, letter.raw])
            reason = {1: None, 0: "already replayed or purged", -1: "changed since listed"}[moved]
            if moved == 1 and letter.job_id:
                record_replay(store, letter.job_id, before.updated_at if before else None)
        _record(report, letter, reason, "replayed", on_each)
    return report


def purge(
    client: redis.Redis,
    layout: Layout,
    store: JobStore,
    letters: Iterable[DeadLetter],
    *,
    on_each: OnEach | None = None,
) -> PurgeReport:
    """Delete letters for good (their job records stay, with their history)."""
    delete = script(client, "purge_dead_letter")
    report = PurgeReport()
    for letter in letters:
        q, rid = layout.queue(letter.queue), letter.redis_message_id
        with _redis_errors():
            gone = delete(keys=[q.dead, q.dead_messages, layout.deliveries(rid)], args=[rid])
        _record(report, letter, None if gone else "already replayed or purged", "purged", on_each)
    return report


# --- internals ---------------------------------------------------------------------------


@contextmanager
def _redis_errors() -> Iterator[None]:
    """Redis down surfaces as ``BrokerUnavailable``, as it does from the job store."""
    try:
        yield
    except REDIS_DOWN as exc:
        raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc


def _record(
    report: ReplayReport | PurgeReport,
    letter: DeadLetter,
    reason: str | None,
    action: Literal["replayed", "purged"],
    on_each: OnEach | None,
) -> None:
    outcome = Outcome(id=letter.id, action="skipped" if reason else action, reason=reason)
    if reason is None:
        getattr(report, action).append(letter.id)
    else:
        report.skipped.append(outcome)
    if on_each is not None:
        on_each(letter, outcome)


def _replay_obstacle(letter: DeadLetter, record: JobRecord | None) -> str | None:
    if not letter.decodable:
        return "message cannot be decoded"
    if record is not None and record.state is JobState.SUCCEEDED:
        return "job already succeeded"
    return None


def _dead_queues(client: redis.Redis, layout: Layout, only: str | None) -> list[str]:
    if only is not None:
        return [only]
    keys = client.scan_iter(match=layout.dead_letter_pattern, count=1000, _type="zset")
    return sorted({layout.queue_of_dead_key(as_text(key)) for key in keys})


def _read_queue(client: redis.Redis, layout: Layout, queue: str) -> list[DeadLetter]:
    keys = layout.queue(queue)
    entries: list[tuple[bytes, float]] = client.zrange(keys.dead, 0, -1, withscores=True)  # type: ignore[assignment]
    letters = []
    for start in range(0, len(entries), CHUNK):
        chunk = entries[start : start + CHUNK]
        members = [member for member, _ in chunk]
        datas: list[bytes | None] = client.hmget(keys.dead_messages, members)  # type: ignore[assignment]
        for (member, score), data in zip(chunk, datas, strict=True):
            letters.append(_decode(queue, as_text(member), score, data))
    return letters


def _decode(queue: str, redis_id: str, score: float, data: bytes | None) -> DeadLetter:
    """A letter; one we cannot read is still listed (actor ``?``) so it can be purged."""
    raw = as_text(data) if data is not None else ""
    letter = DeadLetter(
        id=redis_id,
        redis_message_id=redis_id,
        queue=queue,
        actor=UNKNOWN_ACTOR,
        dead_at=datetime.fromtimestamp(score / 1000, UTC),
        raw=raw,
    )
    message = wire.decode(data)
    if message is None:
        what = "missing" if data is None else f"undecodable: {raw[:80]!r}"
        return letter.model_copy(
            update={
                "error_code": InvalidMessage.code,
                "error_message": f"message {what}",
                "decodable": False,
            }
        )
    return letter.model_copy(
        update={
            "id": str(message.get("message_id") or redis_id),
            "actor": str(message.get("actor_name") or UNKNOWN_ACTOR),
            "job_id": _job_id(message),
            "retries": wire.retries_of(message),
            "message": message,
        }
    )


def _job_id(message: wire.Message) -> str | None:
    """A job message's job id (a callback delivery's plain id names no letter's job)."""
    args = message.get("args")
    is_job = isinstance(args, list | tuple) and bool(args) and isinstance(args[0], dict)
    return wire.job_id_of(message) if is_job else None


def _attach_errors(client: redis.Redis, store: JobStore, letters: list[DeadLetter]) -> None:
    """Fill error code and message from each job record's last error (one MGET per chunk)."""
    with_job = [letter for letter in letters if letter.job_id]
    recorded: set[str] = set()
    for start in range(0, len(with_job), CHUNK):
        chunk = with_job[start : start + CHUNK]
        raws = client.mget([store.key(letter.job_id or "") for letter in chunk])
        for letter, raw in zip(chunk, raws, strict=True):
            if raw is None:
                continue
            recorded.add(letter.redis_message_id)
            try:
                record = JobRecord.model_validate_json(raw)
            except ValidationError:  # a record we cannot read must not hide the letter
                continue
            error = record.error or (record.errors[-1] if record.errors else None)
            if error is not None:
                letter.error_code, letter.error_message = error.code, error.message
    for letter in letters:
        if letter.redis_message_id in recorded or not letter.decodable:
            continue
        if not _is_job_message(letter):
            letter.error_code = InvalidMessage.code
            letter.error_message = "the arguments are not a job message"


def _is_job_message(letter: DeadLetter) -> bool:
    args = letter.message.get("args") or []
    try:
        JobMessage.model_validate(args[0] if args else None)
    except ValidationError:
        return False
    return True
