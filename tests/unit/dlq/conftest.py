"""Dead letters made the way Dramatiq makes them, in a flushed redis-server."""

from __future__ import annotations

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from heavylift.state.store import JobStore
from tests.unit.dlq.helpers import NS


@pytest.fixture
def broker(redis_client: redis.Redis) -> RedisBroker:
    return RedisBroker(client=redis_client, namespace=NS, maintenance_chance=0)


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client, NS, 3600)
