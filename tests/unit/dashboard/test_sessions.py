"""Dashboard sessions live in Redis: the cookie carries only their id, so logging out (or
deleting the key) ends them for every copy of the cookie, and logging in starts a new one.
The cookie is ``Secure`` unless turned off for plain http (the local stack)."""

from __future__ import annotations

import json
from base64 import b64decode
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from functions.dashboard.app import dashboard_app
from heavylift.config import get_settings
from tests.unit.dashboard.conftest import OpenBrowser
from tests.unit.dashboard.helpers import COOKIE, LAYOUT, PASSWORD, csrf_of, login, try_login
from tests.unit.dlq.helpers import kill_job
from tests.unit.test_http import producer_on


def cookie_data(value: str) -> dict[str, object]:
    """What a signed cookie holds (itsdangerous: base64 JSON, then timestamp, signature)."""
    payload = value.split(".")[0]
    return dict(json.loads(b64decode(payload + "=" * (-len(payload) % 4))))


def test_a_cookie_copied_before_logout_is_refused_after_it(
    admin: TestClient, browser: OpenBrowser, broker: RedisBroker, redis_client: redis.Redis
) -> None:
    kill_job(broker, "d1")
    copied, token = admin.cookies[COOKIE], admin.headers["X-Test-Csrf"]
    assert admin.post("/dashboard/logout", data={"csrf_token": token}).status_code == 303
    assert COOKIE not in admin.cookies  # the browser's own copy is deleted

    thief = browser()
    thief.cookies.set(COOKIE, copied)
    page = thief.get("/dashboard/jobs")
    assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
    assert thief.get("/dashboard/api/overview").status_code == 401
    purge = thief.post(
        "/dashboard/dead-letters/purge",
        data={"scope": "matching"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert purge.status_code == 401
    assert redis_client.zcard(LAYOUT.queue("image").dead) == 1  # nothing purged


def test_the_cookie_carries_only_the_session_id(admin: TestClient) -> None:
    data = cookie_data(admin.cookies[COOKIE])
    assert set(data) == {"sid"}, data
    assert isinstance(data["sid"], str) and len(data["sid"]) >= 43  # 32 random bytes
    assert admin.headers["X-Test-Csrf"] not in json.dumps(data)


def test_the_session_lives_in_redis_for_twelve_hours(
    admin: TestClient, redis_client: redis.Redis
) -> None:
    key = LAYOUT.dashboard_session(str(cookie_data(admin.cookies[COOKIE])["sid"]))
    assert 12 * 3600 - 60 < redis_client.ttl(key) <= 12 * 3600
    redis_client.delete(key)  # an operator ending it by hand
    assert admin.get("/dashboard/").status_code == 303
    assert admin.get("/dashboard/api/jobs").status_code == 401


def test_logging_in_again_rotates_the_session_id(admin: TestClient, browser: OpenBrowser) -> None:
    before = admin.cookies[COOKIE]
    response = try_login(admin, token=admin.headers["X-Test-Csrf"])  # from an open page
    assert response.status_code == 303
    assert cookie_data(admin.cookies[COOKIE])["sid"] != cookie_data(before).get("sid")
    assert admin.get("/dashboard/").status_code == 200
    old = browser()
    old.cookies.set(COOKIE, before)
    assert old.get("/dashboard/").status_code == 303  # the replaced session is over
    assert csrf_of(admin.get("/dashboard/").text) != admin.headers["X-Test-Csrf"]


def test_two_logins_are_two_sessions_and_logout_ends_only_its_own(
    browser: OpenBrowser,
) -> None:
    first, second = browser(), browser()
    first_token, second_token = login(first), login(second)
    assert first_token != second_token
    assert first.post("/dashboard/logout", data={"csrf_token": first_token}).status_code == 303
    assert first.get("/dashboard/").status_code == 303
    assert second.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HEAVYLIFT_DASHBOARD_PASSWORD", None), ("HEAVYLIFT_DASHBOARD_USERNAME", "someone-else")],
)
def test_sessions_end_when_their_account_does(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None
) -> None:
    """Unsetting the password ("nobody can log in") or renaming the user ends every session
    at once, without waiting twelve hours."""
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    assert admin.get("/dashboard/").status_code == 303
    assert admin.get("/dashboard/api/overview").status_code == 401


def test_the_session_cookie_is_secure_by_default(client: TestClient) -> None:
    response = try_login(client)
    assert response.status_code == 303
    flags = [f.strip().lower() for f in response.headers["set-cookie"].split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
    logout = client.post(
        "/dashboard/logout", data={"csrf_token": csrf_of(client.get("/dashboard/").text)}
    )
    assert "secure" in [f.strip().lower() for f in logout.headers["set-cookie"].split(";")]


def test_the_secure_flag_can_be_turned_off_for_plain_http(
    browser: OpenBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEAVYLIFT_DASHBOARD_SECURE_COOKIE", "false")
    get_settings.cache_clear()
    plain = browser(base_url="http://testserver")
    response = try_login(plain)
    assert response.status_code == 303
    assert "secure" not in [f.strip().lower() for f in response.headers["set-cookie"].split(";")]
    assert plain.get("/dashboard/").status_code == 200  # the cookie came back over http


def test_redis_down_is_a_503_page_not_a_crash(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dead_redis_url: str
) -> None:
    """Pages, JSON and logins answer 503 while Redis is away (sessions live there too)."""
    with producer_on(monkeypatch, tmp_path, dead_redis_url):
        monkeypatch.setenv("HEAVYLIFT_DASHBOARD_PASSWORD", PASSWORD)
        page = admin.get("/dashboard/")
        assert page.status_code == 503 and "Redis unavailable" in page.text
        assert admin.get("/dashboard/api/jobs").status_code == 503
        assert admin.get("/dashboard/dead-letters").status_code == 503
        app = Starlette(routes=[Mount("/dashboard", app=dashboard_app)])
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as fresh:
            refused = try_login(fresh)
            assert refused.status_code == 503 and "Redis unavailable" in refused.text
            # The login page is open to anyone: where Redis lives is for the log only.
            port = dead_redis_url.rsplit(":", 1)[-1].split("/")[0]
            assert port not in refused.text and "127.0.0.1" not in refused.text
        assert port not in admin.get("/dashboard/api/jobs").text
