"""The API with the dashboard mounted, on a flushed redis-server; logged out or in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from functions.dashboard import dashboard_app
from functions.http import app as api_app
from heavylift.jobstore import JobStore
from tests.unit.dashboard.helpers import PASSWORD, login
from tests.unit.test_http import NAMESPACE, producer_on


@pytest.fixture
def client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[TestClient]:
    """Not logged in."""
    monkeypatch.setenv("HEAVYLIFT_DASHBOARD_PASSWORD", PASSWORD)
    monkeypatch.setenv("HEAVYLIFT_AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("HEAVYLIFT_AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("HEAVYLIFT_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    with producer_on(monkeypatch, tmp_path, redis_url):
        app = Starlette(routes=[Mount("/dashboard", app=dashboard_app), Mount("/", app=api_app)])
        with TestClient(app, follow_redirects=False) as test_client:
            yield test_client


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
