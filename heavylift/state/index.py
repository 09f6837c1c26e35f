"""A job index in Redis: list and filter jobs without reading every record.

Each filterable value has a sorted set of job ids scored by creation time in milliseconds:
``<ns>:jobs:all``, ``<ns>:jobs:state:<state>``, ``<ns>:jobs:queue:<queue>``,
``<ns>:jobs:media:<kind>`` and ``<ns>:jobs:error:<code>``. ``heavylift.state.store`` writes a
record's entries in the same atomic step as the record (its Lua scripts and its WATCH/MULTI
update), so a listed job always has the state, queue and error it is listed under.

A page walks the smallest matching set newest first, checks the other sets with ZMSCORE in
batches and MGETs only the ids that pass, so its cost grows with the page, not with the
number of jobs. ``<ns>:jobs:indexes`` names every index set, so that :func:`prune` can trim
them all when their records' TTL has run out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from heavylift.jobs.models import JobRecord, JobState, S3Location
from heavylift.jobs.spec import MediaKind
from heavylift.state.keys import Layout
from heavylift.state.redis import as_text
from heavylift.state.scripts import script

DEFAULT_SCAN_BUDGET = 5000  # index entries one page may examine before it answers "partial"
MAX_BATCH = 1000
_MEDIA_KINDS = frozenset(kind.value for kind in MediaKind)


# --- writing: which sets a record belongs to ------------------------------------------------


def created_ms(moment: datetime) -> int:
    """The index score. Naive datetimes are taken as UTC, as everything here is."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def media_type_of(record: JobRecord) -> str | None:
    """The kind the bytes turned out to be, else the kind the name promised (its queue)."""
    if record.media_kind is not None:
        return record.media_kind.value
    return record.queue if record.queue in _MEDIA_KINDS else None


def keys_for(
    namespace: str, state: str, queue: str, media: str | None, error_code: str | None
) -> list[str]:
    """Every index set a job with these values belongs to (plain strings, for bulk seeding)."""
    layout = Layout(namespace)
    keys = [
        layout.job_index_all,
        layout.job_index("state", state),
        layout.job_index("queue", queue),
    ]
    if media:
        keys.append(layout.job_index("media", media))
    if error_code:
        keys.append(layout.job_index("error", error_code))
    return keys


def index_keys(namespace: str, record: JobRecord) -> list[str]:
    code = record.error.code if record.error is not None else None
    return keys_for(namespace, record.state.value, record.queue, media_type_of(record), code)


def stage_move(pipe: Any, namespace: str, old: JobRecord, new: JobRecord) -> None:
    """Queue, on a MULTI pipeline, what moves ``old``'s entries to ``new``'s. Only the sets
    that differ are touched, so a progress update costs nothing extra."""
    before, after = set(index_keys(namespace, old)), index_keys(namespace, new)
    score = created_ms(new.created_at)
    moved = score != created_ms(old.created_at)
    added = [key for key in after if moved or key not in before]
    for key in before.difference(after):
        pipe.zrem(key, new.job_id)
    for key in added:
        pipe.zadd(key, {new.job_id: score})
    if added:
        pipe.sadd(Layout(namespace).job_index_registry, *added)


def stage_remove(pipe: Any, namespace: str, record: JobRecord) -> None:
    """Queue, on a MULTI pipeline, the removal of ``record``'s entries (a deleted job)."""
    for key in index_keys(namespace, record):
        pipe.zrem(key, record.job_id)


def prune(client: redis.Redis, namespace: str, before_ms: int) -> int:
    """Drop index entries of jobs created before ``before_ms``; returns how many went.

    Records expire by TTL, entries do not: call this with ``now - job_ttl_seconds`` from a
    periodic place (the workers' housekeeping, about once a minute). Every record younger
    than the TTL still exists, so after a prune the index holds no dangling ids."""
    registry = Layout(namespace).job_index_registry
    members = sorted(as_text(m) for m in client.smembers(registry))  # type: ignore[union-attr]
    if not members:
        return 0
    pruned = script(client, "prune_job_index")(keys=[registry, *members], args=[before_ms])
    return int(pruned)


def prune_expired(client: redis.Redis, namespace: str, ttl_seconds: int) -> int:
    """:func:`prune` what the job TTL has expired by now."""
    now_ms = created_ms(datetime.now(UTC))
    return prune(client, namespace, now_ms - ttl_seconds * 1000)


# --- reading: filters, pages, cursors ------------------------------------------------------


class JobFilter(BaseModel):
    """What the dashboard's job list filters on. ``since`` is inclusive, ``until`` exclusive;
    ``key_contains`` matches the source's key (or URL), ignoring case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: JobState | None = None
    media_type: MediaKind | None = None
    queue: str | None = Field(default=None, min_length=1, max_length=200)
    since: datetime | None = None
    until: datetime | None = None
    error_code: str | None = Field(default=None, min_length=1, max_length=100)
    key_contains: str | None = Field(default=None, min_length=1, max_length=1024)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    def set_keys(self, namespace: str) -> list[str]:
        """The index sets a match must be in (``all`` when nothing narrows it)."""
        pairs = [
            ("state", self.state and self.state.value),
            ("media", self.media_type and self.media_type.value),
            ("queue", self.queue),
            ("error", self.error_code),
        ]
        layout = Layout(namespace)
        keys = [layout.job_index(kind, value) for kind, value in pairs if value]
        return keys or [layout.job_index_all]

    def matches(self, record: JobRecord) -> bool:
        """Checked on every fetched record, so an index entry left stale (a record that
        expired and was created again) never shows a job under the wrong filter."""
        code = record.error.code if record.error is not None else None
        created = created_ms(record.created_at)
        return (
            (self.state is None or record.state == self.state)
            and (self.media_type is None or media_type_of(record) == self.media_type.value)
            and (self.queue is None or record.queue == self.queue)
            and (self.error_code is None or code == self.error_code)
            and (self.since is None or created >= created_ms(self.since))
            and (self.until is None or created < created_ms(self.until))
            and (self.key_contains is None or self.key_contains.lower() in _key_of(record))
        )


class JobPage(BaseModel):
    """One page, newest first. ``next_cursor`` is None at the end. ``partial`` means the
    scan budget ran out before the page filled: ask again with ``next_cursor`` for more.
    ``total_estimate`` is an upper bound: the jobs in the smallest matching set and range."""

    jobs: list[JobRecord]
    next_cursor: str | None
    total_estimate: int
    scanned: int = 0
    partial: bool = False


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the newest-first order: (score, id), ties broken by id descending as
    ZREVRANGEBYSCORE does, so paging is stable while new (newer) jobs arrive."""

    score: int
    job_id: str

    def __str__(self) -> str:
        return f"{self.score}:{self.job_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        score, sep, job_id = text.partition(":")
        if not sep or not job_id or not score.lstrip("-").isdigit():
            raise ValueError(f"not a job list cursor: {text!r}")
        return cls(int(score), job_id)


def _key_of(record: JobRecord) -> str:
    source = record.source
    return (source.key if isinstance(source, S3Location) else source.url).lower()


def _bounds(filters: JobFilter) -> tuple[str, str]:
    low = str(created_ms(filters.since)) if filters.since else "-inf"
    high = f"({created_ms(filters.until)}" if filters.until else "+inf"
    return low, high


@dataclass
class _Scan:
    """Walks one sorted set newest first, below ``high``, in batches growing fourfold. Entries with
    equal scores are counted by ``offset``, so a run of ties longer than a batch is safe."""

    client: redis.Redis
    key: str
    low: str
    high: str
    after: Cursor | None
    batch: int
    offset: int = 0
    done: bool = False
    scanned: int = 0
    last: Cursor | None = None

    def next_batch(self, budget: int) -> list[Cursor]:
        size = max(1, min(self.batch, budget))
        rows: Sequence[tuple[bytes | str, float]] = self.client.zrevrangebyscore(
            self.key, self.high, self.low, start=self.offset, num=size, withscores=True
        )  # type: ignore[assignment]
        found = [Cursor(int(score), as_text(member)) for member, score in rows]
        self.scanned += len(found)
        self.done = len(found) < size
        self.batch = min(self.batch * 4, MAX_BATCH)
        if found:
            self._advance(found)
        return [c for c in found if self.after is None or c < self.after]

    def _advance(self, found: list[Cursor]) -> None:
        """Next batch: from the last score seen, skipping the entries already read at it."""
        last = self.last = found[-1]
        if self.high == str(last.score):
            self.offset += len(found)
        else:
            self.high = str(last.score)
            self.offset = sum(1 for c in found if c.score == last.score)


def _start(high: str, after: Cursor | None) -> str:
    """The upper bound of the first read: the cursor's score (inclusive) if it is lower."""
    if after is None:
        return high
    if high == "+inf" or after.score < int(high.lstrip("(")):
        return str(after.score)
    return high


@dataclass
class _Page:
    limit: int
    jobs: list[JobRecord] = field(default_factory=list)
    last: Cursor | None = None


def _members(client: redis.Redis, others: list[str], found: list[Cursor]) -> list[Cursor]:
    """The candidates present in every other filter set (one round trip of ZMSCOREs)."""
    if not others or not found:
        return found
    ids = [c.job_id for c in found]
    pipe = client.pipeline(transaction=False)
    for key in others:
        pipe.zmscore(key, ids)
    present = [all(score is not None for score in row) for row in zip(*pipe.execute(), strict=True)]
    return [c for c, ok in zip(found, present, strict=True) if ok]


def _fill(
    client: redis.Redis, namespace: str, filters: JobFilter, found: list[Cursor], page: _Page
) -> int:
    """Add the matching records among ``found`` to ``page`` (MGETs of only as many as the
    page still needs, more when ``key_contains`` may reject some); return how many were used."""
    needle = filters.key_contains.lower() if filters.key_contains else None
    used = 0
    while used < len(found) and len(page.jobs) < page.limit:
        room = page.limit - len(page.jobs)
        chunk = found[used : used + (room if needle is None else max(room * 4, 100))]
        raws = client.mget([Layout(namespace).job(c.job_id) for c in chunk])
        for n, (cursor, raw) in enumerate(zip(chunk, raws, strict=True)):  # type: ignore[arg-type]
            if raw is None or (needle and not _may_contain(raw, needle)):
                continue  # expired (prune comes later), or surely not a match
            record = JobRecord.model_validate_json(raw)
            if created_ms(record.created_at) == cursor.score and filters.matches(record):
                page.jobs.append(record)
                page.last = cursor
                if len(page.jobs) == page.limit:
                    return used + n + 1
        used += len(chunk)
    return used


def _may_contain(raw: bytes | str, needle: str) -> bool:
    """A pre-check on the JSON text before parsing: a key holding ``needle`` puts it in the
    text too, unless JSON escapes it (quotes, backslashes, control characters)."""
    if not needle.isprintable() or '"' in needle or "\\" in needle:
        return True
    return needle in as_text(raw).lower()


def _estimates(client: redis.Redis, keys: list[str], low: str, high: str) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.zcount(key, low, high)
    return [int(n) for n in pipe.execute()]


def list_jobs(
    client: redis.Redis,
    namespace: str,
    filters: JobFilter,
    cursor: str | None = None,
    limit: int = 50,
    scan_budget: int = DEFAULT_SCAN_BUDGET,
) -> JobPage:
    """One page of jobs matching ``filters``, newest first, after ``cursor``.

    Costs: one ZCOUNT round trip to pick the smallest set, then per batch one range read,
    one ZMSCORE round trip and MGETs of only the ids that pass, independent of job count."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    after = Cursor.parse(cursor) if cursor else None
    low, high = _bounds(filters)
    keys = filters.set_keys(namespace)
    driver_count, driver = min(zip(_estimates(client, keys, low, high), keys, strict=True))
    if driver_count == 0:
        return JobPage(jobs=[], next_cursor=None, total_estimate=0)
    others = [key for key in keys if key != driver]
    # Filters are often correlated (an error code implies "failed"), so sizes predict little:
    # start with a small batch and grow it fourfold; a round trip costs less than a big read.
    batch = (limit + 1) * (2 if others or filters.key_contains else 1)
    scan = _Scan(client, driver, low, _start(high, after), after, batch)
    page = _Page(limit)
    pending: list[Cursor] = []
    while len(page.jobs) < limit and scan.scanned < scan_budget and not scan.done:
        pending = _members(client, others, scan.next_batch(scan_budget - scan.scanned))
        pending = pending[_fill(client, namespace, filters, pending, page) :]
    return _finish(page, scan, pending, limit, driver_count)


def _finish(page: _Page, scan: _Scan, pending: list[Cursor], limit: int, estimate: int) -> JobPage:
    """Where the next page starts: after the last job shown when the page is full, after the
    last entry examined when the budget ran out, nowhere when the set is exhausted."""
    full = len(page.jobs) == limit
    more = bool(pending) or not scan.done
    if full and more:
        next_cursor = str(page.last)
    elif not full and not scan.done and scan.last is not None:
        next_cursor = str(scan.last)
    else:
        next_cursor = None
    partial = not full and next_cursor is not None
    return JobPage(
        jobs=page.jobs,
        next_cursor=next_cursor,
        total_estimate=estimate,
        scanned=scan.scanned,
        partial=partial,
    )
