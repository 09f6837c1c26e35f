"""The Redis broker, configured from settings, shared by producers and workers."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from heavylift.config import Settings
from heavylift.jobstore import connect


def build_broker(settings: Settings) -> RedisBroker:
    client = connect(settings.redis_url, settings.redis_socket_timeout_s)
    broker = RedisBroker(client=client, namespace=settings.namespace)
    broker.add_middleware(CurrentMessage())
    return broker


def install_broker(settings: Settings) -> RedisBroker:
    """Build the broker and make it Dramatiq's global one (actors bind to it on import)."""
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    return broker
