"""The Redis broker, configured from settings, shared by producers and workers.

Dramatiq's default middleware stays, except ``Retries``, which :mod:`actors.middleware`
replaces; the heartbeat timeout and dead-letter lifetime come from settings."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from actors.middleware import DeliveryLimit, Housekeeping, RetryLater
from heavylift.config import Settings
from heavylift.state.counters import MetricsRecorder
from heavylift.state.store import JobStore


def build_broker(settings: Settings, worker_id: str | None = None) -> RedisBroker:
    """``worker_id`` names this process in Redis (a supervisor picks it, to clean up after
    it); producers leave it to Dramatiq."""
    store = JobStore.from_settings(settings, patience_s=settings.redis_patience_s)
    client, layout = store.client, store.layout  # the process's one Redis client
    metrics = MetricsRecorder(client, settings.namespace, settings.history_retention_s)
    middleware: list[Middleware] = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),  # Dramatiq's on_success/on_failure hooks, not client callbacks
        Pipelines(),
        CurrentMessage(),
        DeliveryLimit(client, layout, store, metrics, settings.max_deliveries),
        RetryLater(
            client,
            layout,
            metrics,
            max_retries=settings.max_retries,
            backoff=(settings.min_backoff_ms, settings.max_backoff_ms),
        ),
        Housekeeping(client, layout, settings.heartbeat_timeout_s, settings.job_ttl_seconds),
    ]
    broker = RedisBroker(
        client=client,
        namespace=settings.namespace,
        middleware=middleware,
        heartbeat_timeout=int(settings.heartbeat_timeout_s * 1000),
        dead_message_ttl=settings.dead_letter_ttl_seconds * 1000,
    )
    if worker_id:
        broker.broker_id = worker_id
    return broker


def install_broker(settings: Settings, worker_id: str | None = None) -> RedisBroker:
    """Build the broker and make it Dramatiq's global one (actors bind to it on import)."""
    broker = build_broker(settings, worker_id)
    dramatiq.set_broker(broker)
    return broker
