"""``heavylift dlq`` as an operator runs it, against a real redis-server.

Users rely on: the table and ``--json`` show what is dead and why, ``show`` gives every
attempt's traceback, replay and purge touch only what was named (purge asks first), and an
unreachable Redis is one clear line with exit code 2, not a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from typer.testing import CliRunner

from heavylift.config import get_settings
from heavylift.jobs.models import JobState
from heavylift.state.store import JobStore
from infra.cli import app
from tests.unit.dlq.helpers import (
    LAYOUT,
    NS,
    attempt,
    backdate,
    dead_ids,
    kill,
    kill_job,
    redis_id,
    store_record,
    waiting_ids,
)

runner = CliRunner()


@pytest.fixture
def env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HEAVYLIFT_REDIS_URL", redis_url)
    monkeypatch.setenv("HEAVYLIFT_NAMESPACE", NS)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def broker(redis_client: redis.Redis, env: None) -> RedisBroker:
    return RedisBroker(client=redis_client, namespace=NS, maintenance_chance=0)


def dlq(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["dlq", *args], input=input)
    return result.exit_code, result.output


def test_list_table_and_json(
    broker: RedisBroker, store: JobStore, redis_client: redis.Redis
) -> None:
    store_record(store, "j1", errors=[attempt(1, "timeout", "ran past 3 h")])
    image = kill_job(broker, "j1")
    video = kill_job(broker, "j2", "video", retries=2)
    backdate(redis_client, "video", video, hours=3)

    code, out = dlq("list")
    assert code == 0
    assert image.message_id in out and video.message_id in out
    assert "process_image" in out and "timeout" in out and "ran past 3 h" in out
    assert "2 dead letter(s)" in out

    code, out = dlq("list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [row["id"] for row in rows] == [video.message_id, image.message_id]  # oldest first
    assert rows[1] | {"dead_at": None, "message": None} == {
        "id": image.message_id,
        "redis_message_id": redis_id(image),
        "queue": "image",
        "actor": "process_image",
        "job_id": "j1",
        "dead_at": None,
        "retries": 5,
        "error_code": "timeout",
        "error_message": "ran past 3 h",
        "decodable": True,
        "message": None,
    }
    assert datetime.fromisoformat(rows[1]["dead_at"]).tzinfo is not None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--queue", "video"], {"video"}),
        (["--actor", "process_image"], {"image"}),
        (["--error", "timeout"], {"image"}),
        (["--job", "j2"], {"video"}),
        (["--since", "1h"], {"image"}),
        (["--since", "90m"], {"image"}),
        (["--since", "7d"], {"image", "video"}),
        (["--since", "2000-01-01T00:00:00"], {"image", "video"}),
    ],
)
def test_list_filters(
    broker: RedisBroker,
    store: JobStore,
    redis_client: redis.Redis,
    options: list[str],
    expected: set[str],
) -> None:
    store_record(store, "j1", errors=[attempt(1, "timeout", "ran past 3 h")])
    kill_job(broker, "j1")
    backdate(redis_client, "video", kill_job(broker, "j2", "video"), hours=2)

    code, out = dlq("list", "--json", *options)

    assert code == 0, out
    assert {row["queue"] for row in json.loads(out)} == expected


def test_bad_since_is_a_usage_error(broker: RedisBroker) -> None:
    code, out = dlq("list", "--since", "yesterday")
    assert code == 2 and "--since" in out


def test_undecodable_entry_does_not_break_list(
    broker: RedisBroker, redis_client: redis.Redis
) -> None:
    kill_job(broker, "j1")
    redis_client.zadd(LAYOUT.queue("image").dead, {"garbage": 1})
    redis_client.hset(LAYOUT.queue("image").dead_messages, "garbage", b"\x00\xffnot json")

    code, out = dlq("list")
    assert code == 0 and "garbage" in out and "invalid_message" in out

    code, out = dlq("list", "--json")
    assert {(row["id"], row["actor"]) for row in json.loads(out)} >= {("garbage", "?")}


def test_show_prints_the_message_and_every_attempt(broker: RedisBroker, store: JobStore) -> None:
    store_record(store, "j1", errors=[attempt(1), attempt(2, "timeout", "ran past 3 h")])
    message = kill_job(broker, "j1")

    code, out = dlq("show", message.message_id)

    assert code == 0
    assert redis_id(message) in out and "process_image" in out
    assert '"job_id": "j1"' in out and "photos/j1.jpg" in out  # the arguments
    assert "attempt 1" in out and "attempt 2" in out
    assert "storage_unavailable" in out and "timeout" in out
    assert "Traceback (most recent call last)" in out and "timeout: ran past 3 h" in out

    code, out = dlq("show", redis_id(message), "--json")
    detail = json.loads(out)
    assert detail["letter"]["id"] == message.message_id
    assert [e["code"] for e in detail["record"]["errors"]] == ["storage_unavailable", "timeout"]
    assert detail["record"]["errors"][1]["traceback"].startswith("Traceback")


def test_show_unknown_id(broker: RedisBroker) -> None:
    code, out = dlq("show", "nope")
    assert code == 1 and "no dead letter nope" in out


def test_replay_by_id(broker: RedisBroker, store: JobStore, redis_client: redis.Redis) -> None:
    store_record(store, "j1")
    chosen = kill_job(broker, "j1")
    other = kill_job(broker, "j2")

    code, out = dlq("replay", chosen.message_id)

    assert code == 0, out
    assert "replayed 1, skipped 0" in out
    assert waiting_ids(redis_client, "image") == [redis_id(chosen)]
    assert dead_ids(redis_client, "image") == {redis_id(other)}
    record = store.get("j1")
    assert record is not None and record.state is JobState.QUEUED and record.replays == 1


def test_replay_reports_skips_and_unknown_ids(
    broker: RedisBroker, store: JobStore, redis_client: redis.Redis
) -> None:
    store_record(store, "done", state=JobState.SUCCEEDED, errors=[])
    done = kill_job(broker, "done")
    other = kill_job(broker, "j2")

    code, out = dlq("replay", done.message_id, other.message_id, "nope")

    assert code == 1  # an id the operator named was not there
    assert "replayed 1, skipped 1" in out
    assert f"skipped {done.message_id}: job already succeeded" in out
    assert "not found: nope" in out
    assert waiting_ids(redis_client, "image") == [redis_id(other)]


def test_replay_needs_a_selector(broker: RedisBroker, redis_client: redis.Redis) -> None:
    kill_job(broker, "j1")

    code, out = dlq("replay")

    assert code == 2 and "--all" in out
    assert waiting_ids(redis_client, "image") == [] and len(dead_ids(redis_client, "image")) == 1


def test_replay_dry_run_and_rate(broker: RedisBroker, redis_client: redis.Redis) -> None:
    messages = [kill_job(broker, f"j{i}") for i in range(3)]

    code, out = dlq("replay", "--all", "--dry-run")
    assert code == 0 and "would replay 3" in out and "nothing changed" in out
    assert waiting_ids(redis_client, "image") == [] and len(dead_ids(redis_client, "image")) == 3

    code, out = dlq("replay", "--queue", "image", "--rate", "50/s")
    assert code == 0 and "replayed 3, skipped 0" in out
    assert sorted(waiting_ids(redis_client, "image")) == sorted(redis_id(m) for m in messages)

    code, out = dlq("replay", "--all", "--rate", "fast")
    assert code == 2 and "--rate" in out


def test_purge_asks_first(broker: RedisBroker, redis_client: redis.Redis) -> None:
    kill_job(broker, "j1")
    kill(broker, "video", [{"x": 1}])

    code, out = dlq("purge", "--all", input="n\n")
    assert code == 1 and "Purge 2 dead letter(s)?" in out and "nothing purged" in out
    assert len(dead_ids(redis_client, "image")) == 1 and len(dead_ids(redis_client, "video")) == 1

    code, out = dlq("purge", "--queue", "video", input="y\n")
    assert code == 0 and "purged 1" in out
    assert dead_ids(redis_client, "video") == set() and len(dead_ids(redis_client, "image")) == 1

    code, out = dlq("purge", "--all", "--yes")
    assert code == 0 and "purged 1" in out and "Purge" not in out
    assert dead_ids(redis_client, "image") == set()


def test_purge_needs_a_selector(broker: RedisBroker, redis_client: redis.Redis) -> None:
    kill_job(broker, "j1")
    code, _ = dlq("purge", "--yes")
    assert code == 2 and len(dead_ids(redis_client, "image")) == 1


@pytest.mark.parametrize(
    "args", [["list"], ["show", "x"], ["replay", "--all"], ["purge", "--all", "--yes"]]
)
def test_redis_down_is_one_line_and_exit_2(
    dead_redis_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("HEAVYLIFT_REDIS_URL", dead_redis_url)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["dlq", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "Redis unavailable" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
