"""Logins are throttled per client address and per user name: after
``HEAVYLIFT_DASHBOARD_LOGIN_ATTEMPTS`` (5) failures each further try must wait (1 s,
doubling); a try that comes too early is answered 429 with ``Retry-After`` and its password
is never checked, so guessing costs time whatever the guesses are.

The throttle's clock stands still unless a test moves it: on a slow machine a burst may take
longer than the first wait, and a try let through then would be right, not a bug.
"""

from __future__ import annotations

import time

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from functions.dashboard.session import login_throttle
from functions.producer import get_producer
from heavylift.config import get_settings
from tests.unit.dashboard.conftest import OpenBrowser
from tests.unit.dashboard.helpers import Clock, csrf_of, try_login

ATTEMPTS = 5  # the default of HEAVYLIFT_DASHBOARD_LOGIN_ATTEMPTS


@pytest.fixture(autouse=True)
def clock(app: Starlette) -> Clock:
    frozen = Clock()
    login_throttle().clock = frozen
    return frozen


def retry_after(response: httpx2.Response) -> int:
    assert response.status_code == 429, (response.status_code, response.text[:300])
    value = response.headers["retry-after"]
    assert value.isdigit(), value  # integer seconds, as RFC 9110 wants
    return int(value)


def fail(client: TestClient, times: int, username: str = "admin") -> list[int]:
    """``times`` wrong passwords with one form token (as a script would); their statuses."""
    token = csrf_of(client.get("/dashboard/login").text)
    return [
        try_login(client, f"guess-{n}", username=username, token=token).status_code
        for n in range(times)
    ]


def test_300_wrong_passwords_then_the_right_one_is_refused(client: TestClient) -> None:
    started = time.monotonic()
    statuses = fail(client, 300)
    assert statuses[:ATTEMPTS] == [401] * ATTEMPTS
    assert set(statuses[ATTEMPTS:]) == {429}
    right = try_login(client)
    assert 1 <= retry_after(right) <= 2
    assert client.get("/dashboard/").status_code == 303  # not logged in
    assert time.monotonic() - started < 30


def test_the_wait_doubles_and_the_right_password_after_it_clears_the_count(
    client: TestClient, clock: Clock
) -> None:
    assert fail(client, ATTEMPTS) == [401] * ATTEMPTS
    assert retry_after(try_login(client, "too-early")) == 1
    clock.advance(0.5)
    assert retry_after(try_login(client)) == 1  # half a second left: rounded up
    clock.advance(0.5)
    assert try_login(client, "still-wrong").status_code == 401  # allowed, and wrong
    assert retry_after(try_login(client)) == 2  # the next wait is twice as long
    clock.advance(2)
    assert try_login(client).status_code == 303  # in, and the counters are cleared
    client.post("/dashboard/logout", data={"csrf_token": csrf_of(client.get("/dashboard/").text)})
    assert fail(client, ATTEMPTS) == [401] * ATTEMPTS  # a fresh allowance


def test_one_user_name_is_throttled_from_every_address(browser: OpenBrowser) -> None:
    for n in range(ATTEMPTS):
        assert fail(browser(f"198.51.100.{n + 1}"), 1) == [401]
    elsewhere = browser("203.0.113.9")
    assert retry_after(try_login(elsewhere)) >= 1
    assert try_login(elsewhere, username="someone-else").status_code == 401  # not this address


def test_one_address_is_throttled_for_every_user_name(browser: OpenBrowser) -> None:
    attacker = browser("203.0.113.7")
    for n in range(ATTEMPTS):
        assert fail(attacker, 1, username=f"user-{n}") == [401]
    assert retry_after(try_login(attacker)) >= 1  # admin, right password, same address
    assert try_login(browser("203.0.113.8")).status_code == 303  # admin elsewhere is fine


def test_ipv6_addresses_count_by_their_64_prefix(browser: OpenBrowser) -> None:
    for n in range(ATTEMPTS):
        assert fail(browser(f"2001:db8:1:2::{n + 1:x}"), 1, username=f"user-{n}") == [401]
    assert retry_after(try_login(browser("2001:db8:1:2:ffff::1"), username="other")) >= 1
    assert try_login(browser("2001:db8:1:3::1"), username="other").status_code == 401


def test_the_page_says_how_long_to_wait_and_json_clients_get_429_too(
    client: TestClient,
) -> None:
    fail(client, ATTEMPTS)
    page = try_login(client, username="admin")
    wait = retry_after(page)
    assert "Too many failed logins" in page.text and f"{wait} second" in page.text
    assert 'id="login-form"' in page.text  # the form stays, to try again later
    fetched = try_login(client, "x", Accept="application/json")
    assert retry_after(fetched) == wait
    assert fetched.json() == {"error": "too many failed logins", "retry_after_s": wait}


def test_the_settings_set_the_allowance_and_the_cap(
    client: TestClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEAVYLIFT_DASHBOARD_LOGIN_ATTEMPTS", "2")
    monkeypatch.setenv("HEAVYLIFT_DASHBOARD_LOGIN_MAX_BACKOFF_S", "5.5")
    get_settings.cache_clear()
    get_producer.cache_clear()
    login_throttle().clock = clock
    assert fail(client, 2) == [401, 401]
    # 1, 2, 4 s, then 8 and 16 s capped at 5.5 s (whose Retry-After is rounded up to 6)
    for header, wait in ((1, 1), (2, 2), (4, 4), (6, 5.5), (6, 5.5)):
        assert retry_after(try_login(client, "early")) == header
        clock.advance(wait)
        assert try_login(client, "wrong").status_code == 401


def test_a_refused_login_form_is_still_csrf_checked_first(client: TestClient) -> None:
    """Posts without the token are refused before they count: a foreign page cannot lock
    the operator out through the operator's own browser."""
    client.get("/dashboard/login")
    for _ in range(ATTEMPTS + 3):
        response = client.post("/dashboard/login", data={"username": "admin", "password": "x"})
        assert response.status_code == 403
    assert try_login(client).status_code == 303
