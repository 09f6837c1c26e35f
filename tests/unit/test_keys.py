"""Redis key names are stored data: a renamed key strands what is already in Redis (queued
messages, records, retries, counters). Every name is pinned here; changing one must be a
deliberate migration, never a side effect of a refactor."""

from __future__ import annotations

import pytest

from heavylift.state.keys import Layout

LAYOUT = Layout("ns")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # Dramatiq's (must match its dispatch.lua)
        (LAYOUT.queue("image").waiting, "ns:image"),
        (LAYOUT.queue("image").messages, "ns:image.msgs"),
        (LAYOUT.queue("image").dead, "ns:image.XQ"),
        (LAYOUT.queue("image").dead_messages, "ns:image.XQ.msgs"),
        (LAYOUT.queue("image").acks("w1"), "ns:__acks__.w1.image"),
        (LAYOUT.heartbeats, "ns:__heartbeats__"),
        # Heavylift's queue keys
        (LAYOUT.scheduled, "ns:heavylift.scheduled"),
        (LAYOUT.scheduled_messages, "ns:heavylift.scheduled.msgs"),
        (LAYOUT.deliveries("r1"), "ns:heavylift.deliveries.r1"),
        # jobs, metrics, history
        (LAYOUT.job("j1"), "ns:job:j1"),
        (LAYOUT.job_index_all, "ns:jobs:all"),
        (LAYOUT.job_index("state", "queued"), "ns:jobs:state:queued"),
        (LAYOUT.job_index("error", "too_large"), "ns:jobs:error:too_large"),
        (LAYOUT.job_index_registry, "ns:jobs:indexes"),
        (LAYOUT.metrics, "ns:metrics"),
        (LAYOUT.history_minute(29_000_000), "ns:history:29000000"),
        # the dashboard's
        (LAYOUT.dashboard_session("s1"), "ns:dashboard.session.s1"),
        (LAYOUT.login_failures_by_address("10.0.0.1"), "ns:dashboard.login.addr.10.0.0.1"),
        (
            LAYOUT.login_failures_by_user("admin"),
            "ns:dashboard.login.user."
            "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918",
        ),
    ],
)
def test_key_names_do_not_change(key: str, expected: str) -> None:
    assert key == expected


def test_patterns_and_parsers_agree_with_the_keys() -> None:
    key = LAYOUT.queue("video").acks("host.example.com-1")
    assert LAYOUT.worker_and_queue_of_acks(key) == ("host.example.com-1", "video")
    assert key.startswith(LAYOUT.acks_prefix("host.example.com-1"))
    assert LAYOUT.acks_pattern == "ns:__acks__.*"
    assert LAYOUT.queue_of_dead_key(LAYOUT.queue("audio").dead) == "audio"
    before, after = LAYOUT.queue_key_parts
    assert f"{before}image{after}" == LAYOUT.queue("image").waiting
    with pytest.raises(ValueError):
        LAYOUT.job_index("owner", "x")
