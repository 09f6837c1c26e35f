"""Shared by the dashboard tests: log in as a browser does, read the CSRF token."""

from __future__ import annotations

import re

import httpx2  # what starlette.testclient answers with
from starlette.testclient import TestClient

from heavylift.state.keys import Layout
from tests.unit.test_http import NAMESPACE

PASSWORD = "correct horse battery staple"
LAYOUT = Layout(NAMESPACE)
HTTPS = "https://testserver"
COOKIE = "heavylift_dashboard"


class Clock:
    """A clock that moves only when told to (``LoginThrottle.clock``)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html
    return match[1]


def try_login(
    client: TestClient,
    password: str = PASSWORD,
    username: str = "admin",
    next_url: str = "",
    token: str | None = None,
    **headers: str,
) -> httpx2.Response:
    """Post the login form (with the token of a fresh login page unless ``token`` is given)."""
    if token is None:
        token = csrf_of(client.get("/dashboard/login").text)
    return client.post(
        "/dashboard/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
        headers=headers,
    )


def login(client: TestClient, password: str = PASSWORD) -> str:
    """Log in as a browser does; returns the session's CSRF token."""
    response = try_login(client, password)
    assert response.status_code == 303, response.text
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    return csrf_of(client.get("/dashboard/").text)
