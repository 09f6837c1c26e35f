"""The operator dashboard through HTTP, against a real redis-server.

Mounted as ``functions.http`` mounts it (``/dashboard`` beside the API), so links, redirects
and the session cookie are checked where they will live. Jobs are submitted through the
API, dead letters are made by Dramatiq's own broker, and every action goes through the
dashboard's forms with the session's CSRF token, as a browser would.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import redis
from starlette.testclient import TestClient

from heavylift.jobs.models import JobRecord, JobState, OutputEntry
from heavylift.state.store import JobStore
from tests.unit.dashboard.helpers import LAYOUT, PASSWORD, csrf_of, login
from tests.unit.dlq.helpers import attempt, store_record
from tests.unit.test_http import API_KEY

# --- login and CSRF ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/jobs", "/jobs/abc", "/dead-letters", "/dead-letters/x"])
def test_pages_redirect_to_login(client: TestClient, path: str) -> None:
    response = client.get(f"/dashboard{path}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login?next=")


@pytest.mark.parametrize("path", ["/api/overview", "/api/jobs", "/api/jobs/x", "/api/dead-letters"])
def test_json_endpoints_answer_401(client: TestClient, path: str) -> None:
    assert client.get(f"/dashboard{path}").status_code == 401


def test_actions_need_a_session(client: TestClient) -> None:
    response = client.post("/dashboard/dead-letters/purge", data={"scope": "matching"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    fetched = client.post("/dashboard/dead-letters/purge", headers={"X-CSRF-Token": "x"})
    assert fetched.status_code == 401


def test_the_api_ignores_the_dashboard_session(client: TestClient) -> None:
    """The session is the dashboard's own: ``/healthz`` stays open, and ``/metrics`` answers
    as the API's settings decide, logged in or not."""
    metrics = client.get("/metrics").status_code
    assert client.get("/healthz").status_code == 200
    login(client)
    assert client.get("/metrics").status_code == metrics
    assert client.get("/healthz").status_code == 200


def test_wrong_password_is_refused(client: TestClient) -> None:
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login", data={"username": "admin", "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert client.get("/dashboard/").status_code == 303


def test_no_configured_password_means_nobody_logs_in(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heavylift.config import get_settings

    monkeypatch.delenv("HEAVYLIFT_DASHBOARD_PASSWORD")
    get_settings.cache_clear()
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login", data={"username": "admin", "password": "", "csrf_token": token}
    )
    assert response.status_code == 401 and "disabled" in response.text


def test_login_redirects_back_and_logout_ends_the_session(client: TestClient) -> None:
    target = client.get("/dashboard/jobs?state=failed").headers["location"]
    page = client.get(target)
    token = csrf_of(page.text)
    assert 'name="next" value="/dashboard/jobs?state=failed"' in page.text
    response = client.post(
        "/dashboard/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/dashboard/jobs?state=failed",
        },
    )
    assert response.headers["location"] == "/dashboard/jobs?state=failed"
    assert client.get("/dashboard/jobs").status_code == 200
    token = csrf_of(client.get("/dashboard/").text)
    assert client.post("/dashboard/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/dashboard/").status_code == 303


def test_login_refuses_an_offsite_next(client: TestClient) -> None:
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/dashboard/"


def test_login_without_csrf_is_forbidden(client: TestClient) -> None:
    client.get("/dashboard/login")
    response = client.post("/dashboard/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_actions_without_the_right_csrf_token_are_forbidden(
    admin: TestClient, token: str | None
) -> None:
    data = {"scope": "matching"} if token is None else {"scope": "matching", "csrf_token": token}
    assert admin.post("/dashboard/dead-letters/purge", data=data).status_code == 403
    assert admin.post("/dashboard/logout", data=data).status_code == 403
    headers = {"X-CSRF-Token": token or "x"}
    assert admin.post("/dashboard/dead-letters/replay", headers=headers).status_code == 403


def test_pages_carry_the_csrf_token_and_security_headers(admin: TestClient) -> None:
    page = admin.get("/dashboard/dead-letters")
    token = admin.headers["X-Test-Csrf"]
    assert f'name="csrf_token" value="{token}"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert admin.get("/dashboard/static/dashboard.js").status_code == 200
    assert admin.get("/dashboard/static/dashboard.css").status_code == 200


# --- overview --------------------------------------------------------------------------


def submit(client: TestClient, key: str) -> str:
    response = client.post(
        "/v1/jobs",
        json={"source": {"bucket": "uploads", "key": key}},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_overview_shows_queue_counts_workers_and_delays(
    admin: TestClient, redis_client: redis.Redis
) -> None:
    submit(admin, "a.jpg")
    submit(admin, "b.jpg")
    held = submit(admin, "c.mp4")
    # A live worker holding the video job, as Dramatiq's fetch leaves it: id in its ack set.
    message_id = redis_client.lpop(LAYOUT.queue("video").waiting).decode()  # type: ignore[union-attr]
    redis_client.sadd(LAYOUT.queue("video").acks("worker-1"), message_id)
    redis_client.zadd(LAYOUT.heartbeats, {"worker-1": time.time() * 1000})
    redis_client.zadd(LAYOUT.heartbeats, {"worker-gone": time.time() * 1000 - 60_000})
    # A scheduled retry of an image job.
    redis_client.zadd(LAYOUT.scheduled, {"r1": time.time() * 1000 + 60_000})
    redis_client.hset(LAYOUT.scheduled_messages, "r1", json.dumps({"queue_name": "image"}))

    data = admin.get("/dashboard/api/overview").json()
    queues = {q["name"]: q for q in data["queues"]}
    assert queues["image"] == {"name": "image", "ready": 2, "delayed": 1, "in_flight": 0, "dead": 0}
    assert queues["video"]["in_flight"] == 1 and queues["video"]["ready"] == 0
    assert set(queues) == {"image", "video", "audio", "callbacks"}
    assert data["delayed_total"] == 1 and data["delayed_per_queue"] is True
    assert [(w["id"], w["jobs"]) for w in data["workers"]] == [("worker-1", [held])]
    assert len(data["history"]) == 60

    page = admin.get("/dashboard/").text
    assert '<tr data-queue="image">' in page and '<td data-field="ready">2</td>' in page
    assert 'data-worker-id="worker-1"' in page and "worker-gone" not in page
    assert 'id="chart-throughput"' in page and 'id="chart-failures"' in page


# --- jobs ------------------------------------------------------------------------------


def _with_created(created: datetime, record: JobRecord) -> JobRecord:
    return record.model_copy(update={"created_at": created})


def make_jobs(store: JobStore) -> list[str]:
    """Five jobs, oldest first: image ones queued/failed/succeeded, one video, one dead."""
    now = datetime.now(UTC)
    specs = [
        ("j-old", JobState.SUCCEEDED, "image"),
        ("j-fail", JobState.FAILED, "image"),
        ("j-video", JobState.QUEUED, "video"),
        ("j-dead", JobState.DEAD, "image"),
        ("j-new", JobState.QUEUED, "image"),
    ]
    for n, (job_id, state, queue) in enumerate(specs):
        errors = [attempt(1, "decode_failed", "not an image")] if state is JobState.FAILED else []
        store_record(store, job_id, state=state, queue=queue, errors=errors)
        created = now - timedelta(minutes=10 - n)
        store.update(job_id, partial(_with_created, created))
    return [job_id for job_id, _, _ in reversed(specs)]


def ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', html)


def test_job_list_filters_and_pages(admin: TestClient, store: JobStore) -> None:
    newest_first = make_jobs(store)
    assert ids_in(admin.get("/dashboard/jobs").text) == newest_first
    assert ids_in(admin.get("/dashboard/jobs?state=failed").text) == ["j-fail"]
    assert ids_in(admin.get("/dashboard/jobs?queue=video").text) == ["j-video"]
    assert ids_in(admin.get("/dashboard/jobs?media_type=video").text) == ["j-video"]
    assert ids_in(admin.get("/dashboard/jobs?error_code=decode_failed").text) == ["j-fail"]
    assert ids_in(admin.get("/dashboard/jobs?q=J-DEAD.jpg").text) == ["j-dead"]
    assert ids_in(admin.get("/dashboard/jobs?since=7.5m").text) == ["j-new", "j-dead"]

    first = admin.get("/dashboard/api/jobs?limit=2").json()
    assert [j["job_id"] for j in first["jobs"]] == newest_first[:2]
    second = admin.get(f"/dashboard/api/jobs?limit=2&cursor={first['next_cursor']}").json()
    assert [j["job_id"] for j in second["jobs"]] == newest_first[2:4]
    assert second["jobs"][0]["state"] == "queued"

    page = admin.get("/dashboard/jobs?limit=2").text
    assert 'id="next-page"' in page and '<td class="state state-queued">queued</td>' in page


def test_job_list_refuses_bad_filters(admin: TestClient) -> None:
    assert admin.get("/dashboard/jobs?state=bogus").status_code == 400
    assert admin.get("/dashboard/api/jobs?since=yesterday").status_code == 400
    assert admin.get("/dashboard/api/jobs?cursor=nonsense").status_code == 400


def test_job_page_shows_outputs_timings_and_every_error(admin: TestClient, store: JobStore) -> None:
    store_record(store, "j1", state=JobState.DEAD, errors=[attempt(1), attempt(2, "timeout")])
    outputs = [
        OutputEntry(
            key="j1/thumb-256.webp",
            bytes=10,
            sha256="0",
            content_type="image/webp",
            width=256,
            height=200,
        ),
        OutputEntry(key="j1/metadata.json", bytes=5, sha256="1", content_type="application/json"),
    ]
    started = datetime.now(UTC) - timedelta(seconds=30)
    store.update(
        "j1",
        lambda r: r.model_copy(
            update={
                "outputs": outputs,
                "manifest_key": "j1/manifest.json",
                "started_at": started,
                "enqueued_at": started - timedelta(seconds=5),
                "finished_at": started + timedelta(seconds=2),
            }
        ),
    )
    page = admin.get("/dashboard/jobs/j1").text
    assert page.count('<img class="thumbnail"') == 1
    assert page.count('class="output-link') == 3  # two outputs and the manifest
    assert "heavylift-results/j1/thumb-256.webp?" in page and "Signature=" in page
    assert page.count('<details class="attempt-error"') == 2
    assert "Traceback (most recent call last):" in page and "timeout" in page
    assert 'data-final="true"' in page
    assert '<td data-stage="queued">5.0 s</td>' in page
    assert '<td data-stage="processing">2.0 s</td>' in page

    view = admin.get("/dashboard/api/jobs/j1").json()
    assert view["state"] == "dead" and view["final"] is True
    assert view["timings"]["processing"] == pytest.approx(2.0)
    assert admin.get("/dashboard/jobs/nope").status_code == 404
    assert admin.get("/dashboard/api/jobs/nope").status_code == 404
