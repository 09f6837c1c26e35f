"""Every state change needs the session's CSRF token, and ``next=`` never leaves the
dashboard. The POST routes are read from the app, so a new one is covered the day it is
added."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.routing import Route
from starlette.testclient import TestClient

from functions.dashboard.app import dashboard_app
from tests.unit.dashboard.conftest import OpenBrowser
from tests.unit.dashboard.helpers import LAYOUT, PASSWORD, csrf_of, login, try_login
from tests.unit.dlq.helpers import kill_job

POST_ROUTES = sorted(
    route.path
    for route in dashboard_app.routes
    if isinstance(route, Route) and "POST" in (route.methods or ())
)
ACTIONS = [path for path in POST_ROUTES if path != "/login"]


def test_the_routes_under_test_are_all_there() -> None:
    assert POST_ROUTES == ["/dead-letters/purge", "/dead-letters/replay", "/login", "/logout"]


def wrong_tokens(browser: OpenBrowser) -> list[str | None]:
    """Missing, empty, made up, not ASCII, and another browser's own valid token."""
    other = browser()
    return [None, "", "x" * 43, "é" * 43, login(other)]


@pytest.mark.parametrize("path", ACTIONS)
def test_every_action_refuses_without_the_sessions_token(
    admin: TestClient,
    browser: OpenBrowser,
    broker: RedisBroker,
    redis_client: redis.Redis,
    path: str,
) -> None:
    letter = kill_job(broker, "d1")
    form = {"scope": "selected", "ids": letter.message_id}
    for token in wrong_tokens(browser):
        data = form if token is None else {**form, "csrf_token": token}
        assert admin.post(f"/dashboard{path}", data=data).status_code == 403, token
        headers = {b"X-CSRF-Token": (token or "").encode(), b"Accept": b"application/json"}
        fetched = admin.post(f"/dashboard{path}", data=form, headers=headers)
        assert fetched.status_code == 403, token
    assert redis_client.zcard(LAYOUT.queue("image").dead) == 1  # neither replayed nor purged
    assert admin.get("/dashboard/").status_code == 200  # still logged in


def test_logging_in_refuses_without_the_forms_token(
    client: TestClient, browser: OpenBrowser
) -> None:
    other = browser()
    others_form_token = csrf_of(other.get("/dashboard/login").text)
    client.get("/dashboard/login")  # a cookie with a token of its own
    missing = client.post("/dashboard/login", data={"username": "admin", "password": PASSWORD})
    assert missing.status_code == 403
    for token in ["", "x" * 43, "é" * 43, others_form_token, login(browser())]:
        assert try_login(client, token=token).status_code == 403, token
        assert client.get("/dashboard/").status_code == 303  # not logged in


def test_a_token_ends_with_its_session(admin: TestClient) -> None:
    old = admin.headers["X-Test-Csrf"]
    assert admin.post("/dashboard/logout", data={"csrf_token": old}).status_code == 303
    new = login(admin)
    assert new != old
    refused = admin.post(
        "/dashboard/dead-letters/purge", data={"csrf_token": old, "scope": "matching"}
    )
    assert refused.status_code == 403


# --- next= -------------------------------------------------------------------------------

OFFSITE = [
    "//evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "https://evil.com",
    "https://evil.com/dashboard/",
    "http:evil.com",
    "javascript:alert(1)",
    "//evil.com/dashboard/",
    "/dashboard@evil.com",
    "/dashboardevil",
    "/dashboard",
    "/dashboard/../x",
    "/dashboard/../../evil.com",
    "/dashboard/./../x",
    "/dashboard/jobs/../../x",
    "/dashboard/..",
    "/dashboard/%2e%2e/x",
    "/dashboard/%2E%2E/x",
    "/dashboard/.%2e/x",
    "/dashboard/%2e./x",
    "/dashboard/%252e%252e/x",
    "/dashboard/..%2fx",
    "/dashboard/..%5cx",
    "/dashboard/..\\x",
    "/dashboard/\\\\evil.com",
    "/dashboard/%5c%5cevil.com",
    "/dashboard/.\t./x",
    "/dashboard/..\n/x",
    "/dashboard/\r\nSet-Cookie: x=y",
    "%2F%2Fevil.com",
    "/%2F%2Fevil.com",
    "%2Fdashboard%2F..%2Fx",
    "https:%2F%2Fevil.com",
    "/dashboard/\x00",
]
INSIDE = [
    "/dashboard/",
    "/dashboard/jobs?state=failed",
    "/dashboard/dead-letters?queue=image&since=1h",
    "/dashboard/jobs/abc",
    "/dashboard/jobs?q=a/../b",  # a query is not a path: nothing resolves it
]


@pytest.mark.parametrize("target", OFFSITE)
def test_login_never_redirects_outside_the_dashboard(client: TestClient, target: str) -> None:
    response = try_login(client, next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/"


@pytest.mark.parametrize("target", INSIDE)
def test_login_redirects_back_inside_the_dashboard(client: TestClient, target: str) -> None:
    response = try_login(client, next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == target


@pytest.mark.parametrize("target", OFFSITE[:12] + ["/dashboard/../x", "/dashboard/%2e%2e/x"])
def test_the_login_form_drops_a_next_it_would_refuse(client: TestClient, target: str) -> None:
    page = client.get("/dashboard/login?" + urlencode({"next": target})).text
    assert 'name="next" value=""' in page


@pytest.mark.parametrize("target", OFFSITE)
def test_actions_never_redirect_outside_the_dashboard(admin: TestClient, target: str) -> None:
    token = admin.headers["X-Test-Csrf"]
    response = admin.post(
        "/dashboard/dead-letters/replay",
        data={"csrf_token": token, "scope": "selected", "ids": "none", "next": target},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/dead-letters"
