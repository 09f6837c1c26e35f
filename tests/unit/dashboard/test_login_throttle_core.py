"""``heavylift.state.login_throttle`` on a fake clock, against a real redis-server: the backoff
schedule, its cap, forgetting, clearing, atomicity, and how addresses are keyed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from heavylift.state.keys import Layout
from heavylift.state.login_throttle import FORGET_AFTER_S, LoginThrottle, address_key
from tests.unit.dashboard.helpers import Clock

LAYOUT = Layout("ns")


def throttle(
    client: redis.Redis, clock: Clock, attempts: int = 3, max_backoff_s: float = 10.0
) -> LoginThrottle:
    return LoginThrottle(client, LAYOUT, attempts, max_backoff_s, clock=clock)


def test_each_try_past_the_allowance_waits_twice_as_long_up_to_the_cap(
    redis_client: redis.Redis,
) -> None:
    clock = Clock()
    gate = throttle(redis_client, clock)
    assert [gate.admit("192.0.2.1", "admin") for _ in range(3)] == [0, 0, 0]
    for wait in (1, 2, 4, 8, 10, 10):
        assert gate.admit("192.0.2.1", "admin") == wait
        clock.now += wait - 0.01
        assert gate.admit("192.0.2.1", "admin") == 1  # rounded up, never 0
        clock.now += 0.01
        assert gate.admit("192.0.2.1", "admin") == 0


def test_a_success_clears_the_address_and_the_user(redis_client: redis.Redis) -> None:
    clock = Clock()
    gate = throttle(redis_client, clock)
    for _ in range(3):
        gate.admit("192.0.2.1", "admin")
    gate.succeeded("192.0.2.1", "admin")
    assert redis_client.keys("*") == []
    assert [gate.admit("192.0.2.1", "admin") for _ in range(3)] == [0, 0, 0]


def test_addresses_and_user_names_count_separately(redis_client: redis.Redis) -> None:
    clock = Clock()
    gate = throttle(redis_client, clock)
    for n in range(3):
        assert gate.admit(f"192.0.2.{n}", "admin") == 0
    assert gate.admit("198.51.100.1", "admin") == 1  # the user name is spent
    assert gate.admit("198.51.100.1", "other") == 0  # this address is not
    for n in range(2):
        assert gate.admit("198.51.100.1", f"user{n}") == 0
    assert gate.admit("198.51.100.1", "fresh") == 1  # now the address is spent


def test_failures_are_forgotten_after_the_window(redis_client: redis.Redis) -> None:
    gate = throttle(redis_client, Clock(), max_backoff_s=10.0)
    for _ in range(4):
        gate.admit("192.0.2.1", "admin")
    keys = [LAYOUT.login_failures_by_address("192.0.2.1"), LAYOUT.login_failures_by_user("admin")]
    for key in keys:
        assert 10 + FORGET_AFTER_S - 5 < redis_client.ttl(key) <= 10 + FORGET_AFTER_S


def test_concurrent_tries_never_exceed_the_allowance(redis_client: redis.Redis) -> None:
    """Many API processes and Lambdas share Redis: the check and the count are one step."""
    gate = throttle(redis_client, Clock(), attempts=5)
    with ThreadPoolExecutor(16) as pool:
        waits = list(pool.map(lambda _: gate.admit("192.0.2.1", "admin"), range(200)))
    assert waits.count(0) == 5


def test_a_refused_try_does_not_count(redis_client: redis.Redis) -> None:
    clock = Clock()
    gate = throttle(redis_client, clock, attempts=1)
    assert gate.admit(None, "admin") == 0
    for _ in range(100):
        assert gate.admit(None, "admin") == 1
    clock.now += 1
    assert gate.admit(None, "admin") == 0
    assert gate.admit(None, "admin") == 2  # one more failure, not a hundred


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:ffff:ffff:ffff:ffff", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
    ],
)
def test_addresses_are_keyed_by_what_one_client_controls(address: str, key: str) -> None:
    assert address_key(address) == key


@pytest.mark.parametrize("address", [None, "", "testclient", "x" * 10_000, "a:b:c", "1.2.3.4\n"])
def test_anything_else_is_hashed_into_a_bounded_key(address: str | None) -> None:
    key = address_key(address)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert address_key(address) == key


def test_the_keys_are_named_in_the_layout_and_user_names_are_hashed() -> None:
    assert LAYOUT.dashboard_session("abc") == "ns:dashboard.session.abc"
    assert LAYOUT.login_failures_by_address("192.0.2.1") == "ns:dashboard.login.addr.192.0.2.1"
    long_name = "<" * 100_000
    key = LAYOUT.login_failures_by_user(long_name)
    assert (
        key.startswith("ns:dashboard.login.user.")
        and len(key) == len("ns:dashboard.login.user.") + 64
    )
    assert LAYOUT.login_failures_by_user("admin") != LAYOUT.login_failures_by_user("Admin")
