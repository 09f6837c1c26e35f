"""The job index behind the dashboard's job list, against a real redis-server.

Users rely on: a job is listed under the state, queue, media type and error code its record
has now (index and record change in one atomic step), every filter and combination returns
exactly the matching jobs newest first, paging is stable while new jobs arrive, and the
index forgets jobs whose records expired instead of growing forever.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import redis

from heavylift.errors import QueueFull
from heavylift.jobs.models import (
    AttemptError,
    JobOrigin,
    JobRecord,
    JobState,
    S3Location,
    UrlSource,
)
from heavylift.jobs.spec import MediaKind, PipelineSpec
from heavylift.state import index as job_index
from heavylift.state.index import JobFilter, JobPage, list_jobs
from heavylift.state.keys import Layout
from heavylift.state.store import JobStore

NS = "idx"
LAYOUT = Layout(NS)
SPEC = PipelineSpec.default((256, 1024), 80)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CODES = ("corrupt_media", "unsupported_media", "too_large")


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client, NS, 3600)


def record(
    n: int,
    *,
    state: JobState = JobState.QUEUED,
    queue: str = "image",
    kind: MediaKind | None = None,
    code: str | None = None,
    key: str | None = None,
    at: datetime | None = None,
) -> JobRecord:
    error = None
    if code:
        error = AttemptError(attempt=1, code=code, message="bad", transient=False)
    return JobRecord(
        job_id=f"j{n:05d}",
        state=state,
        origin=JobOrigin.S3_EVENT,
        source=S3Location(bucket="uploads", key=key or f"photos/{n:05d}.jpg"),
        spec=SPEC,
        queue=queue,
        media_kind=kind,
        error=error,
        created_at=at or NOW - timedelta(minutes=n),
    )


def members(client: redis.Redis, kind: str, value: str = "") -> dict[str, int]:
    key = LAYOUT.job_index_all if kind == "all" else LAYOUT.job_index(kind, value)
    rows: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return {member.decode(): int(score) for member, score in rows}


def names(values: object) -> set[str]:
    """Key names from a client that answers bytes."""
    assert isinstance(values, set | list)
    return {value.decode() for value in values}


def ids(page: JobPage) -> list[str]:
    return [job.job_id for job in page.jobs]


def walk(client: redis.Redis, filters: JobFilter, limit: int, **kw: int) -> list[str]:
    """Every page of a filter, following ``next_cursor`` to the end."""
    found: list[str] = []
    cursor = None
    for _ in range(1000):
        page = list_jobs(client, NS, filters, cursor, limit, **kw)
        found += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("paging never ended")


# --- the index is written with the record ---------------------------------------------------


def test_create_indexes_the_record_once(store: JobStore, redis_client: redis.Redis) -> None:
    job = record(1, kind=MediaKind.IMAGE)
    assert store.create(job) == (job, True)
    score = job_index.created_ms(job.created_at)
    for kind, value in [("all", ""), ("state", "queued"), ("queue", "image"), ("media", "image")]:
        assert members(redis_client, kind, value) == {"j00001": score}
    again = record(1, state=JobState.RUNNING, at=NOW + timedelta(days=1))
    stored, created = store.create(again)
    assert (stored.state, created) == (JobState.QUEUED, False)
    assert members(redis_client, "all") == {"j00001": score}
    assert members(redis_client, "state", "running") == {}


def test_create_enqueued_indexes_in_its_one_round_trip(
    store: JobStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The submission stays one EVALSHA: the index costs no extra round trip."""
    enqueue = ("q", "q.msgs", ("m1", "{}"), 0)
    store.create_enqueued(record(0), *enqueue)  # loads the script
    sent: list[object] = []
    execute = redis_client.execute_command

    def counting(*args: object, **options: object) -> object:
        sent.append(args[0])
        return execute(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting)
    store.create_enqueued(record(2, queue="video"), *enqueue)
    monkeypatch.undo()
    assert sent == ["EVALSHA"]
    assert set(members(redis_client, "queue", "video")) == {"j00002"}
    assert set(members(redis_client, "media", "video")) == {"j00002"}
    assert set(members(redis_client, "state", "queued")) == {"j00000", "j00002"}


def test_refused_or_duplicate_submissions_leave_the_index_alone(
    store: JobStore, redis_client: redis.Redis
) -> None:
    store.create_enqueued(record(1), "q", "q.msgs", ("m1", "{}"), 1)
    with pytest.raises(QueueFull):
        store.create_enqueued(record(2), "q", "q.msgs", ("m2", "{}"), 1)
    duplicate = record(1, state=JobState.FAILED, code="too_large")
    assert store.create_enqueued(duplicate, "q", "q.msgs", ("m3", "{}"), 0)[1] is False
    assert set(members(redis_client, "all")) == {"j00001"}
    assert members(redis_client, "state", "failed") == {}
    assert members(redis_client, "error", "too_large") == {}


def test_update_moves_the_job_between_sets(store: JobStore, redis_client: redis.Redis) -> None:
    store.create(record(1))

    def fail(job: JobRecord) -> JobRecord:
        job.state = JobState.FAILED
        job.media_kind = MediaKind.VIDEO  # the bytes were a video after all
        job.error = AttemptError(attempt=1, code="corrupt_media", message="x", transient=False)
        return job

    store.update("j00001", fail)
    assert members(redis_client, "state", "queued") == {}
    assert set(members(redis_client, "state", "failed")) == {"j00001"}
    assert set(members(redis_client, "error", "corrupt_media")) == {"j00001"}
    assert members(redis_client, "media", "image") == {}
    assert set(members(redis_client, "media", "video")) == {"j00001"}

    def replay(job: JobRecord) -> JobRecord:
        job.state, job.error = JobState.QUEUED, None
        return job

    store.update("j00001", replay)
    assert members(redis_client, "error", "corrupt_media") == {}
    assert members(redis_client, "state", "failed") == {}
    assert set(members(redis_client, "state", "queued")) == {"j00001"}


def test_a_progress_update_writes_nothing_to_the_index(
    store: JobStore, redis_client: redis.Redis
) -> None:
    store.create(record(1))
    redis_client.config_resetstat()

    def progress(job: JobRecord) -> JobRecord:
        job.progress = 0.5
        return job

    store.update("j00001", progress)
    stats = redis_client.info("commandstats")
    assert not any(name in stats for name in ("cmdstat_zadd", "cmdstat_zrem", "cmdstat_sadd"))


def test_delete_removes_the_entries(store: JobStore, redis_client: redis.Redis) -> None:
    store.create(record(1, state=JobState.FAILED, code="too_large"))
    store.delete("j00001")
    store.delete("j00001")  # already gone: still fine
    assert redis_client.keys(f"{NS}:jobs:[aseqm]*") == []


# --- filters ------------------------------------------------------------------------------


def seed(store: JobStore) -> list[JobRecord]:
    """60 jobs, one a minute, cycling through states, queues, kinds and error codes."""
    jobs = []
    states = list(JobState)
    for n in range(60):
        state = states[n % len(states)]
        queue = ("image", "video", "audio", "image")[n % 4]
        failed = state in (JobState.FAILED, JobState.DEAD)
        job = record(
            n,
            state=state,
            queue=queue,
            kind=MediaKind.VIDEO if n % 7 == 0 else None,  # sometimes moved by its bytes
            code=CODES[n % 3] if failed else None,
            key=f"{('Holiday', 'work', 'misc')[n % 3]}/IMG_{n:04d}.jpg",
        )
        store.create(job)
        jobs.append(job)
    return jobs


FILTERS = {
    "none": JobFilter(),
    "state": JobFilter(state=JobState.FAILED),
    "media": JobFilter(media_type=MediaKind.VIDEO),
    "queue": JobFilter(queue="audio"),
    "since": JobFilter(since=NOW - timedelta(minutes=20)),
    "until": JobFilter(until=NOW - timedelta(minutes=20)),
    "window": JobFilter(since=NOW - timedelta(minutes=40), until=NOW - timedelta(minutes=10)),
    "error": JobFilter(error_code="corrupt_media"),
    "key": JobFilter(key_contains="holiDAY"),
    "state+media+error+since": JobFilter(
        state=JobState.FAILED,
        media_type=MediaKind.IMAGE,
        error_code="too_large",
        since=NOW - timedelta(minutes=50),
    ),
    "queue+media": JobFilter(queue="image", media_type=MediaKind.VIDEO),
    "state+key": JobFilter(state=JobState.SUCCEEDED, key_contains="work/"),
    "naive since": JobFilter(since=(NOW - timedelta(minutes=20)).replace(tzinfo=None)),
    "nothing": JobFilter(state=JobState.RUNNING, error_code="too_large"),
}


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_every_filter_returns_exactly_the_matches_newest_first(
    store: JobStore, redis_client: redis.Redis, name: str, limit: int
) -> None:
    filters = FILTERS[name]
    expected = [job.job_id for job in seed(store) if filters.matches(job)]  # oldest last
    assert walk(redis_client, filters, limit) == expected
    assert list_jobs(redis_client, NS, filters, limit=100).total_estimate >= len(expected)


def test_the_filter_helpers_agree_with_the_records() -> None:
    """``matches`` is the oracle above: check it against hand-written expectations."""
    job = record(3, state=JobState.FAILED, kind=MediaKind.AUDIO, code="too_large", key="A/b.MP3")
    assert JobFilter(media_type=MediaKind.AUDIO, key_contains="a/B.mp3").matches(job)
    assert not JobFilter(media_type=MediaKind.IMAGE).matches(job)  # its queue said image
    assert not JobFilter(until=job.created_at).matches(job)
    assert JobFilter(since=job.created_at).matches(job)
    url = record(4).model_copy(update={"source": UrlSource(url="https://example.com/Cat.png")})
    assert JobFilter(key_contains="example.com/cat").matches(url)


def test_total_estimate_is_exact_for_one_filter(store: JobStore, redis_client: redis.Redis) -> None:
    jobs = seed(store)
    page = list_jobs(redis_client, NS, JobFilter(state=JobState.DEAD), limit=2)
    assert page.total_estimate == sum(job.state == JobState.DEAD for job in jobs)
    assert len(page.jobs) == 2 and page.next_cursor is not None and not page.partial


# --- paging -------------------------------------------------------------------------------


def test_paging_is_stable_while_new_jobs_arrive(store: JobStore, redis_client: redis.Redis) -> None:
    seed(store)
    filters = JobFilter(queue="image")
    expected = [job_id for job_id in walk(redis_client, filters, 100)]
    found: list[str] = []
    cursor = None
    for n in itertools.count(100):
        page = list_jobs(redis_client, NS, filters, cursor, 4)
        found += ids(page)
        store.create(record(n, at=NOW + timedelta(seconds=n)))  # newer than everything
        if (cursor := page.next_cursor) is None:
            break
    assert found == expected


def test_paging_through_jobs_created_in_the_same_millisecond(
    store: JobStore, redis_client: redis.Redis
) -> None:
    """Ties longer than any batch: the cursor (score, id) still never skips or repeats."""
    for n in range(250):
        store.create(record(n, at=NOW if n % 5 else NOW - timedelta(minutes=1)))
    expected = sorted((f"j{n:05d}" for n in range(250) if n % 5), reverse=True)
    expected += sorted((f"j{n:05d}" for n in range(250) if n % 5 == 0), reverse=True)
    assert walk(redis_client, JobFilter(), 3) == expected
    assert walk(redis_client, JobFilter(), 1000) == expected
    assert walk(redis_client, JobFilter(key_contains="photos/"), 30) == expected


def test_a_page_that_fills_at_the_very_end_has_no_next_cursor(
    store: JobStore, redis_client: redis.Redis
) -> None:
    for n in range(6):
        store.create(record(n))
    page = list_jobs(redis_client, NS, JobFilter(), limit=6)
    assert len(page.jobs) == 6 and page.next_cursor is None


def test_a_scan_budget_gives_a_partial_page_to_continue(
    store: JobStore, redis_client: redis.Redis
) -> None:
    """A rare ``key_contains`` must not read every record: it answers partial, with a
    cursor after what it examined, and the pages together are still exactly the matches."""
    for n in range(300):
        store.create(record(n, key="needle.jpg" if n in (10, 250) else None))
    filters = JobFilter(key_contains="NEEDLE")
    first = list_jobs(redis_client, NS, filters, limit=5, scan_budget=100)
    assert first.partial and ids(first) == ["j00010"] and first.scanned == 100
    assert first.next_cursor is not None
    assert walk(redis_client, filters, 5, scan_budget=100) == ["j00010", "j00250"]


def test_bad_cursor_and_limit_are_refused(redis_client: redis.Redis) -> None:
    for cursor in ("nonsense", "12", ":j1", "x:j1"):
        with pytest.raises(ValueError):
            list_jobs(redis_client, NS, JobFilter(), cursor)
    with pytest.raises(ValueError):
        list_jobs(redis_client, NS, JobFilter(), limit=0)


# --- retention ------------------------------------------------------------------------------


def test_expired_records_are_skipped_and_pruned(store: JobStore, redis_client: redis.Redis) -> None:
    seed(store)
    for n in range(30, 60):  # the 30 oldest jobs' records expire
        redis_client.delete(store.key(f"j{n:05d}"))
    expected = [f"j{n:05d}" for n in range(30)]
    assert walk(redis_client, JobFilter(), 7) == expected
    cutoff = job_index.created_ms(NOW - timedelta(minutes=29, seconds=30))
    assert job_index.prune(redis_client, NS, cutoff) > 30
    assert redis_client.zcard(LAYOUT.job_index_all) == 30
    assert walk(redis_client, JobFilter(), 7) == expected
    # sets left empty are dropped from the registry, the others stay
    registry = names(redis_client.smembers(LAYOUT.job_index_registry))
    assert registry == names(redis_client.keys(f"{NS}:jobs:*:*")) | {LAYOUT.job_index_all}


def test_prune_expired_uses_the_ttl(store: JobStore, redis_client: redis.Redis) -> None:
    store.create(record(1, at=datetime.now(UTC) - timedelta(hours=2)))
    store.create(record(2, at=datetime.now(UTC)))
    assert job_index.prune_expired(redis_client, NS, 3600) == 4  # all, state, queue, media
    assert set(members(redis_client, "all")) == {"j00002"}
    assert job_index.prune(redis_client, "empty-namespace", 0) == 0


def test_a_recreated_record_is_listed_once_under_its_new_state(
    store: JobStore, redis_client: redis.Redis
) -> None:
    """An expired record created again (a late delivery) leaves a stale entry behind until
    the next prune: the list checks each record, so the job never shows twice or wrongly."""
    store.create(record(1, state=JobState.FAILED, code="too_large"))
    redis_client.delete(store.key("j00001"))
    store.create(record(1, state=JobState.RUNNING, at=NOW + timedelta(hours=1)))
    assert ids(list_jobs(redis_client, NS, JobFilter(state=JobState.FAILED))) == []
    assert ids(list_jobs(redis_client, NS, JobFilter(error_code="too_large"))) == []
    assert ids(list_jobs(redis_client, NS, JobFilter())) == ["j00001"]
