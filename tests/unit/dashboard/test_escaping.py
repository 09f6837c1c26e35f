"""Whatever a job key, an error message or a dead letter holds shows as text on every
dashboard page: nothing an uploader, a failing decoder or a crafted message wrote can add
markup (a script, or an attribute breaking out of its quotes)."""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.testclient import TestClient

from heavylift.jobs.models import (
    AttemptError,
    JobOrigin,
    JobRecord,
    JobState,
    OutputEntry,
    S3Location,
)
from heavylift.state.store import JobStore
from tests.unit.dashboard.helpers import LAYOUT, csrf_of, try_login
from tests.unit.dlq.helpers import SPEC, job_message, kill

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JOB_ID = f"job{IMG}"  # no "/": it is a path segment of the job page
KEY = f"uploads/{SCRIPT}{IMG}.jpg"
MESSAGE = f"decoder said {SCRIPT} and {IMG}"


def assert_text_only(page: str, *shown: str) -> None:
    """No markup from a payload, and each of ``shown`` present as text."""
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    text = html.unescape(page)
    for value in shown:
        assert value in text, value


def hostile_error(n: int) -> AttemptError:
    return AttemptError(
        attempt=n,
        code=f"code{IMG}",
        message=MESSAGE,
        transient=True,
        traceback=f"Traceback\n  {SCRIPT}\n{IMG}",
        at=datetime.now(UTC),
    )


def hostile_job(store: JobStore) -> JobRecord:
    record = JobRecord(
        job_id=JOB_ID,
        origin=JobOrigin.S3_EVENT,
        source=S3Location(bucket="uploads", key=KEY),
        spec=SPEC,
        queue="image",
        state=JobState.DEAD,
        attempts=2,
        errors=[hostile_error(1), hostile_error(2)],
        error=hostile_error(2),
        finished_at=datetime.now(UTC),
        outputs=[
            OutputEntry(
                key=f"{JOB_ID}/{SCRIPT}.webp", bytes=1, sha256="0", content_type="image/webp"
            ),
            OutputEntry(key=f"{JOB_ID}/{IMG}.json", bytes=1, sha256="1", content_type="text/html"),
        ],
        callback_url=f"https://example.com/{IMG}",
        callback_error=MESSAGE,
    )
    store.create(record)
    return record


def test_the_job_list_and_its_filters(admin: TestClient, store: JobStore) -> None:
    hostile_job(store)
    assert_text_only(admin.get("/dashboard/jobs").text, JOB_ID, f"s3://uploads/{KEY}")
    filtered = admin.get("/dashboard/jobs?" + urlencode({"q": IMG, "queue": SCRIPT}))
    assert_text_only(filtered.text, IMG, SCRIPT)
    bad = admin.get("/dashboard/jobs?" + urlencode({"since": SCRIPT, "q": IMG}))
    assert bad.status_code == 400
    assert_text_only(bad.text, SCRIPT, IMG)


def test_the_job_page(admin: TestClient, store: JobStore) -> None:
    hostile_job(store)
    page = admin.get(f"/dashboard/jobs/{quote(JOB_ID, safe='')}")
    assert page.status_code == 200
    assert_text_only(
        page.text, JOB_ID, KEY, MESSAGE, f"code{IMG}", SCRIPT, f"https://example.com/{IMG}"
    )
    assert page.text.count('<details class="attempt-error"') == 2


def test_the_overview(admin: TestClient, redis_client: redis.Redis) -> None:
    worker = f"w{IMG}"  # no ".": the ack set's key splits worker and queue on it
    redis_client.zadd(LAYOUT.heartbeats, {worker: time.time() * 1000})
    redis_client.sadd(LAYOUT.queue("image").acks(worker), "m1")
    redis_client.hset(
        LAYOUT.queue("image").messages, "m1", json.dumps({"args": [{"job_id": SCRIPT}]})
    )
    assert_text_only(admin.get("/dashboard/").text, worker, SCRIPT)


def test_the_dead_letter_list_and_detail(
    admin: TestClient, broker: RedisBroker, store: JobStore, redis_client: redis.Redis
) -> None:
    hostile_job(store)
    letter = kill(
        broker, "image", [job_message(JOB_ID).model_dump(mode="json")], actor=f"actor{IMG}"
    )
    redis_client.zadd(LAYOUT.queue("image").dead, {"raw1": time.time() * 1000})
    redis_client.hset(LAYOUT.queue("image").dead_messages, "raw1", f"not json {SCRIPT}{IMG}")

    listed = admin.get("/dashboard/dead-letters").text
    assert_text_only(listed, JOB_ID, f"actor{IMG}", MESSAGE[:120], f"code{IMG}")
    filtered = admin.get("/dashboard/dead-letters?" + urlencode({"actor": IMG, "job": SCRIPT}))
    assert_text_only(filtered.text, IMG, SCRIPT)

    detail = admin.get(f"/dashboard/dead-letters/{letter.message_id}").text
    assert_text_only(detail, JOB_ID, f"actor{IMG}", MESSAGE, SCRIPT)
    raw = admin.get("/dashboard/dead-letters/raw1").text
    assert_text_only(raw, f"not json {SCRIPT}{IMG}")


def test_flash_messages(admin: TestClient) -> None:
    token = admin.headers["X-Test-Csrf"]
    response = admin.post(
        "/dashboard/dead-letters/replay",
        data={"csrf_token": token, "scope": "matching", "since": SCRIPT + IMG},
    )
    assert response.status_code == 303
    assert_text_only(admin.get(response.headers["location"]).text, SCRIPT)


def test_the_login_page_with_next_and_a_username(client: TestClient) -> None:
    for target in (IMG, SCRIPT, "/dashboard/jobs?" + urlencode({"q": IMG + SCRIPT})):
        page = client.get("/dashboard/login?" + urlencode({"next": target}))
        assert page.status_code == 200
        assert_text_only(page.text)
    inside = "/dashboard/jobs?" + urlencode({"q": IMG + SCRIPT})
    page = client.get("/dashboard/login?" + urlencode({"next": inside}))
    assert_text_only(page.text, inside)
    refused = try_login(client, "wrong", username=IMG + SCRIPT, next_url=inside)
    assert refused.status_code == 401
    assert_text_only(refused.text, IMG + SCRIPT, inside)
    csrf_of(refused.text)  # the meta tag is intact
