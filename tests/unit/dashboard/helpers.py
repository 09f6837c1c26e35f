"""Shared by the dashboard tests: log in as a browser does, read the CSRF token."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from heavylift.broker_layout import Layout
from tests.unit.test_http import NAMESPACE

PASSWORD = "correct horse battery staple"
LAYOUT = Layout(NAMESPACE)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html
    return match[1]


def login(client: TestClient, password: str = PASSWORD) -> str:
    """Log in as a browser does; returns the session's CSRF token."""
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login",
        data={"username": "admin", "password": password, "csrf_token": token, "next": ""},
    )
    assert response.status_code == 303, response.text
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    return csrf_of(client.get("/dashboard/").text)
