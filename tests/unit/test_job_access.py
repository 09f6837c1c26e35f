"""Who sees which job, and what each credential may do.

A job belongs to the client whose credential made it: every other client gets the same 404
as for a job that does not exist (no probing for ids). Jobs made by upload events belong to
no client; only operator keys read them. A signed request is identified by its signed
``webhook-id`` alone, so replaying it with new unsigned headers cannot make new jobs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from functions import s3_events
from functions.http import app
from functions.producer import get_producer
from heavylift.config import Settings, get_settings
from heavylift.jobs.models import AttemptError, JobRecord
from heavylift.net.credentials import Authenticator
from tests.unit.conftest import notification, s3_record
from tests.unit.test_http import (
    AUTH,
    EVENTS,
    OPERATOR,
    OTHER,
    SOURCE,
    WEBHOOK_SECRET,
    assert_problem,
    producer_on,
    queued,
)
from tests.unit.test_http_security import signed


def submit(client: TestClient, headers: dict[str, str], **fields: Any) -> str:
    response = client.post("/v1/jobs", json={"source": SOURCE, **fields}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


# --- ownership ---------------------------------------------------------------------------------


def test_another_client_gets_404_for_a_job_it_did_not_make(anonymous: TestClient) -> None:
    callback = "https://hooks.example.com/private"
    job_id = submit(anonymous, AUTH, callback_url=callback)
    mine = anonymous.get(f"/v1/jobs/{job_id}", headers=AUTH)
    assert mine.status_code == 200 and mine.json()["callback_url"] == callback
    theirs = anonymous.get(f"/v1/jobs/{job_id}", headers=OTHER)
    body = assert_problem(theirs, 404)
    assert callback not in theirs.text
    # The same answer as for an id that does not exist: nothing to learn by probing.
    missing = assert_problem(anonymous.get("/v1/jobs/jnosuchjob", headers=OTHER), 404)
    assert body == missing


def test_a_signed_client_and_a_key_client_are_different_owners(anonymous: TestClient) -> None:
    response = anonymous.post("/v1/jobs", **signed({"source": SOURCE}, msg_id="msg_owner"))
    job_id = response.json()["job_id"]
    assert_problem(anonymous.get(f"/v1/jobs/{job_id}", headers=AUTH), 404)


def test_upload_jobs_are_read_by_operator_keys_only(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    response = anonymous.post(
        "/v1/events/s3", json=notification(s3_record("cat.jpg")), headers=EVENTS
    )
    [job_id] = response.json()["jobs"]
    record = anonymous.get(f"/v1/jobs/{job_id}", headers=OPERATOR)
    assert record.status_code == 200 and record.json()["origin"] == "s3_event"
    for headers in (AUTH, OTHER, EVENTS):
        assert_problem(anonymous.get(f"/v1/jobs/{job_id}", headers=headers), 404)


def test_operator_keys_do_not_read_clients_jobs(anonymous: TestClient) -> None:
    job_id = submit(anonymous, AUTH)
    assert_problem(anonymous.get(f"/v1/jobs/{job_id}", headers=OPERATOR), 404)


def test_the_record_carries_its_owner(anonymous: TestClient, redis_client: redis.Redis) -> None:
    job_id = submit(anonymous, AUTH)
    record = get_producer().store.get(job_id)
    assert record is not None and record.owner
    assert "owner" not in anonymous.get(f"/v1/jobs/{job_id}", headers=AUTH).json()


def test_a_named_client_keeps_its_jobs_across_key_rotation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """``client:key`` entries: the old and the new key of one client see the same jobs."""
    with producer_on(monkeypatch, tmp_path, redis_url):
        monkeypatch.setenv("HEAVYLIFT_API_KEYS", "acme:hl_old_key,acme:hl_new_key,rival:hl_rival")
        get_settings.cache_clear()
        get_producer.cache_clear()
        api = TestClient(app)
        old, new = {"Authorization": "Bearer hl_old_key"}, {"Authorization": "Bearer hl_new_key"}
        job_id = submit(api, old)
        assert api.get(f"/v1/jobs/{job_id}", headers=new).status_code == 200
        rival = {"Authorization": "Bearer hl_rival"}
        assert_problem(api.get(f"/v1/jobs/{job_id}", headers=rival), 404)
        # The idempotency key is the client's, not the key's: the same key is the same job.
        key = {"Idempotency-Key": "order-1"}
        first = api.post("/v1/jobs", json={"source": SOURCE}, headers={**old, **key})
        again = api.post("/v1/jobs", json={"source": SOURCE}, headers={**new, **key})
        assert first.json()["job_id"] == again.json()["job_id"]


def test_a_bare_key_that_contains_a_colon_still_works() -> None:
    """Only a client name before the colon splits an entry; anything else is the key itself."""
    settings = Settings(_env_file=None, api_keys="Weird:Key:With:Colons")  # type: ignore[call-arg]
    auth = Authenticator.from_settings(settings)
    principal = auth.authenticate({"authorization": "Bearer Weird:Key:With:Colons"}, b"")
    assert principal.key_id and principal.client == principal.key_id


# --- what each credential may do ---------------------------------------------------------------


@pytest.mark.parametrize("headers", [OPERATOR, EVENTS], ids=["operator", "events"])
def test_only_client_credentials_submit_jobs(
    anonymous: TestClient, redis_client: redis.Redis, headers: dict[str, str]
) -> None:
    response = anonymous.post("/v1/jobs", json={"source": SOURCE}, headers=headers)
    assert assert_problem(response, 403)["code"] == "forbidden"
    assert queued(redis_client) == 0


@pytest.mark.parametrize("headers", [AUTH, OPERATOR], ids=["api-key", "operator"])
def test_only_event_keys_post_events(
    anonymous: TestClient, redis_client: redis.Redis, headers: dict[str, str]
) -> None:
    response = anonymous.post(
        "/v1/events/s3", json=notification(s3_record("cat.jpg")), headers=headers
    )
    assert assert_problem(response, 403)["code"] == "forbidden"
    assert queued(redis_client) == 0


def test_a_signed_request_cannot_post_events(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    response = anonymous.post("/v1/events/s3", **signed(notification(s3_record("cat.jpg"))))
    assert_problem(response, 403)
    assert queued(redis_client) == 0


# --- signed replays ----------------------------------------------------------------------------


def test_a_replayed_signed_request_with_new_headers_is_the_same_job(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    """``Idempotency-Key`` is not signed: a replay that adds or changes it makes no new job."""
    request = signed({"source": SOURCE}, msg_id="msg_captured")
    first = anonymous.post("/v1/jobs", **request)
    job_ids = {first.json()["job_id"]}
    for value in ("replay-1", "replay-2", "replay-3"):
        headers = {**request["headers"], "Idempotency-Key": value}
        again = anonymous.post("/v1/jobs", content=request["content"], headers=headers)
        assert again.status_code == 202, again.text
        assert again.json()["created"] is False
        job_ids.add(again.json()["job_id"])
    assert len(job_ids) == 1
    assert queued(redis_client) == 1


def test_the_signed_id_is_what_the_official_package_signs(anonymous: TestClient) -> None:
    """Signing the same body under two ids makes two jobs: the id is what counts."""
    body = json.dumps({"source": SOURCE})
    ids = set()
    for msg_id in ("msg_a", "msg_b"):
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(WEBHOOK_SECRET).sign(msg_id, now, body),
        }
        ids.add(anonymous.post("/v1/jobs", content=body, headers=headers).json()["job_id"])
    assert len(ids) == 2


@pytest.mark.parametrize("value", ["x" * 257, "bad\tkey"], ids=["too-long", "control-char"])
def test_a_malformed_idempotency_key_is_400(anonymous: TestClient, value: str) -> None:
    response = anonymous.post(
        "/v1/jobs", json={"source": SOURCE}, headers={**AUTH, "Idempotency-Key": value}
    )
    assert assert_problem(response, 400)["code"] == "invalid_idempotency_key"


def test_the_lambda_handler_is_not_an_authenticated_route(
    anonymous: TestClient, redis_client: redis.Redis
) -> None:
    """S3 invokes the Lambda handler itself (IAM, not keys): its jobs are upload jobs."""
    result = s3_events.handler(notification(s3_record("cat.jpg")), None)
    [job_id] = result["submitted"]
    assert anonymous.get(f"/v1/jobs/{job_id}", headers=OPERATOR).status_code == 200
    assert_problem(anonymous.get(f"/v1/jobs/{job_id}", headers=AUTH), 404)


# --- what a client reads about failures --------------------------------------------------------


def test_internal_failures_show_their_code_but_not_their_words(anonymous: TestClient) -> None:
    """Where Redis or S3 live is for operators; what the client did wrong is for the client."""
    job_id = submit(anonymous, AUTH)
    internal = "Redis unavailable: Error 111 connecting to 10.1.2.3:6379"
    input_error = "PNG signature is damaged (text-mode transfer?)"

    def failed(record: JobRecord) -> JobRecord:
        record.errors = [
            AttemptError(attempt=1, code="broker_unavailable", message=internal, transient=True),
            AttemptError(attempt=2, code="corrupt_media", message=input_error, transient=False),
        ]
        record.error = record.errors[-1]
        return record

    get_producer().store.update(job_id, failed)
    shown = anonymous.get(f"/v1/jobs/{job_id}", headers=AUTH).json()
    assert "10.1.2.3" not in json.dumps(shown)
    assert [error["code"] for error in shown["errors"]] == ["broker_unavailable", "corrupt_media"]
    assert shown["error"]["message"] == input_error


@pytest.mark.parametrize("key", ["../../other-job", "j" + "0" * 31, "/etc/passwd", "%2e%2e/x"])
def test_job_ids_are_made_by_the_server_whatever_the_key(anonymous: TestClient, key: str) -> None:
    """Outputs go under ``<job_id>/``: a client's key must never become (part of) a path."""
    response = anonymous.post(
        "/v1/jobs", json={"source": SOURCE}, headers={**AUTH, "Idempotency-Key": key}
    )
    job_id = response.json()["job_id"]
    assert re.fullmatch(r"j[0-9a-f]{31}", job_id) and key not in job_id
