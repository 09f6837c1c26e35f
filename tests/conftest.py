"""Fixtures shared by every test: real servers on free ports, stopped by pid afterwards."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infra.devstack import INFRA_DIR, redis_server_binary
from infra.processes import Service, free_port

DATA = Path(__file__).parent / "data"
PNGSUITE = DATA / "pngsuite"
EXIF_ORIENTATION = DATA / "exif-orientation"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server (same config as production: AOF, noeviction)."""
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    service = Service(
        "redis",
        [
            redis_server_binary(),
            str(INFRA_DIR / "redis.conf"),
            "--port",
            str(port),
            "--dir",
            str(directory),
        ],
        {"PATH": "/usr/bin:/bin"},
        directory,
        restart=False,
    )
    service.start()
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        raise RuntimeError(service.tail())
    yield f"redis://127.0.0.1:{port}/0"
    service.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a freshly flushed database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def dead_redis_url() -> str:
    """A URL where nothing listens: what producers see while Redis is away."""
    return f"redis://127.0.0.1:{free_port()}/0"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread until the session ends, and in-process ASGI adapters (Mangum, in the serverless
    tests) cannot run while it does."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
