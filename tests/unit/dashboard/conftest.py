"""The API with the dashboard mounted, on a flushed redis-server; logged out or in.

Clients talk https (``https://testserver``), so the session cookie is sent back with its
production default, ``Secure``; ``browser`` opens more of them, each with its own cookies
and client address (what the login throttle counts by).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from functions.dashboard.app import dashboard_app
from functions.http import app as api_app
from heavylift.state.store import JobStore
from tests.unit.dashboard.helpers import HTTPS, PASSWORD, login
from tests.unit.test_http import NAMESPACE, producer_on

OpenBrowser = Callable[..., TestClient]


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[Starlette]:
    monkeypatch.setenv("HEAVYLIFT_DASHBOARD_PASSWORD", PASSWORD)
    monkeypatch.setenv("HEAVYLIFT_AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("HEAVYLIFT_AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("HEAVYLIFT_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    with producer_on(monkeypatch, tmp_path, redis_url):
        yield Starlette(routes=[Mount("/dashboard", app=dashboard_app), Mount("/", app=api_app)])


@pytest.fixture
def browser(app: Starlette) -> Iterator[OpenBrowser]:
    """Opens another browser: its own cookie jar, from ``address`` (``testclient`` unless
    told), on ``base_url`` (https unless told)."""
    with ExitStack() as stack:

        def open_browser(address: str = "testclient", base_url: str = HTTPS) -> TestClient:
            client = TestClient(
                app, base_url=base_url, follow_redirects=False, client=(address, 50000)
            )
            return stack.enter_context(client)

        yield open_browser


@pytest.fixture
def client(browser: OpenBrowser) -> TestClient:
    """Not logged in."""
    return browser()


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    client.headers["X-Test-Csrf"] = login(client)
    return client


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client, NAMESPACE, 3600)


@pytest.fixture
def broker(redis_client: redis.Redis) -> RedisBroker:
    return RedisBroker(client=redis_client, namespace=NAMESPACE, maintenance_chance=0)
