"""The dashboard's dead letters, history charts and Redis-away pages."""

from __future__ import annotations

import html
import re
import time

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.testclient import TestClient

from heavylift.jobs.models import JobState
from heavylift.state import history
from heavylift.state.store import JobStore
from tests.unit.dashboard.helpers import LAYOUT
from tests.unit.dlq.helpers import kill_job, redis_id, store_record
from tests.unit.test_http import NAMESPACE

# --- dead letters ----------------------------------------------------------------------


def letters_in(html: str) -> list[str]:
    return re.findall(r'<tr data-letter-id="([^"]+)"', html)


def flash_of(client: TestClient, response: object) -> str:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = re.search(r'<p id="flash"[^>]*>([^<]*)</p>', client.get(location).text)
    assert match
    return match[1]


def test_dead_letters_list_and_detail(
    admin: TestClient, broker: RedisBroker, store: JobStore
) -> None:
    store_record(store, "d1")
    one = kill_job(broker, "d1")
    two = kill_job(broker, "d2", queue="video")
    page = admin.get("/dashboard/dead-letters").text
    assert letters_in(page) == [two.message_id, one.message_id]  # newest first
    assert 'class="replay"' in page and 'class="purge danger"' in page
    assert letters_in(admin.get("/dashboard/dead-letters?queue=video").text) == [two.message_id]
    assert letters_in(admin.get("/dashboard/dead-letters?job=d1").text) == [one.message_id]
    assert letters_in(admin.get("/dashboard/dead-letters?error=storage_unavailable").text) == [
        one.message_id
    ]
    detail = html.unescape(admin.get(f"/dashboard/dead-letters/{one.message_id}").text)
    assert "process_image" in detail and '"job_id": "d1"' in detail
    assert detail.count('<details class="attempt-error"') == 2
    assert admin.get("/dashboard/dead-letters/missing").status_code == 404
    listed = admin.get("/dashboard/api/dead-letters?queue=image").json()
    assert listed["total"] == 1 and listed["letters"][0]["job_id"] == "d1"


def test_replay_and_purge_one_through_the_page(
    admin: TestClient, broker: RedisBroker, store: JobStore, redis_client: redis.Redis
) -> None:
    store_record(store, "d1")
    one, two = kill_job(broker, "d1"), kill_job(broker, "d2")
    token = admin.headers["X-Test-Csrf"]
    form = {
        "csrf_token": token,
        "scope": "selected",
        "ids": one.message_id,
        "next": "/dashboard/dead-letters",
    }
    response = admin.post("/dashboard/dead-letters/replay", data=form)
    assert response.status_code == 303
    assert flash_of(admin, response) == "replayed 1, skipped 0"
    waiting = redis_client.lrange(LAYOUT.queue("image").waiting, 0, -1)
    assert [m.decode() for m in waiting] == [redis_id(one)]  # type: ignore[union-attr]
    assert store.get("d1").state is JobState.QUEUED  # type: ignore[union-attr]

    again = admin.post("/dashboard/dead-letters/replay", data=form)
    assert flash_of(admin, again) == "replayed 0, skipped 1"
    purged = admin.post("/dashboard/dead-letters/purge", data={**form, "ids": two.message_id})
    assert flash_of(admin, purged) == "purged 1, skipped 0"
    assert letters_in(admin.get("/dashboard/dead-letters").text) == []


def test_replay_a_selection_and_purge_all_matching(
    admin: TestClient, broker: RedisBroker, redis_client: redis.Redis
) -> None:
    a, b, c = (kill_job(broker, f"d{n}") for n in range(3))
    v = kill_job(broker, "dv", queue="video")
    token = admin.headers["X-Test-Csrf"]
    selected = admin.post(
        "/dashboard/dead-letters/replay",
        data={"csrf_token": token, "scope": "selected", "ids": [a.message_id, b.message_id]},
    )
    assert flash_of(admin, selected) == "replayed 2, skipped 0"
    assert redis_client.llen(LAYOUT.queue("image").waiting) == 2

    # fetch() with the header, as the page's JS may call it: JSON back, filters honoured.
    matching = admin.post(
        "/dashboard/dead-letters/purge",
        data={"scope": "matching", "queue": "image"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert matching.json() == {"purged": 1, "skipped": 0, "message": "purged 1, skipped 0"}
    assert letters_in(admin.get("/dashboard/dead-letters").text) == [v.message_id]
    _ = c

    nothing = admin.post(
        "/dashboard/dead-letters/replay", data={"csrf_token": token, "scope": "selected"}
    )
    assert flash_of(admin, nothing) == "nothing selected"
    everything = admin.post(
        "/dashboard/dead-letters/replay", data={"csrf_token": token, "scope": "matching"}
    )
    assert flash_of(admin, everything) == "replayed 1, skipped 0"


# --- history ---------------------------------------------------------------------------


def test_history_counts_per_minute_and_expires(redis_client: redis.Redis) -> None:
    now = time.time()
    history.record(redis_client, "ns", "submitted", 120, at=now)
    history.record(redis_client, "ns", "submitted", 120, at=now, amount=2)
    history.record(redis_client, "ns", "succeeded", 120, at=now)
    history.record(redis_client, "ns", "failed", 120, at=now - 60)
    history.record(redis_client, "ns", "failed", 120, at=now - 3600)  # outside the hour
    points = history.last_hour(redis_client, "ns", now=now)
    assert len(points) == 60 and points[-1].minute == history.epoch_minute(now)
    assert (points[-1].submitted, points[-1].succeeded, points[-1].failed) == (3, 1, 0)
    assert points[-1].failure_rate == 0.0 and points[-2].failure_rate == 1.0
    assert points[0].failure_rate is None and sum(p.failed for p in points) == 1
    assert 0 < redis_client.ttl(history.minute_key("ns", history.epoch_minute(now))) <= 120
    with pytest.raises(ValueError):
        history.record(redis_client, "ns", "bogus")


def test_overview_charts_read_the_history(admin: TestClient, redis_client: redis.Redis) -> None:
    history.record(redis_client, NAMESPACE, "succeeded", amount=3)
    history.record(redis_client, NAMESPACE, "failed")
    last = admin.get("/dashboard/api/overview").json()["history"][-1]
    assert (last["succeeded"], last["failed"], last["failure_rate"]) == (3, 1, 0.25)
